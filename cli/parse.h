// Parsing and formatting of the values users type: integers, durations, tokens, names.
// Every parser throws a CliError (exit 2) whose message names the option and what to type.
#pragma once

#include <cstdint>
#include <string>

#include "jobstore/types.h"

namespace jobstore::cli {

// A decimal integer in [min, max]; `what` names the option ("--count").
int64_t ParseInt(const std::string& what, const std::string& text, int64_t min, int64_t max);

// A duration in milliseconds: a number of seconds ("30", "1.5") or a number with a unit
// ("250ms", "30s", "10m", "2h", "7d"). Non-negative, at most 100 years.
int64_t ParseDurationMs(const std::string& what, const std::string& text);
// The same for a duration that arrived in JSON as a number of seconds.
int64_t SecondsToMs(const std::string& what, double seconds);

// "250ms", "45s", "10m", "1h 30m", "7d" (at most two units; exact when it fits them).
std::string FormatDuration(int64_t ms);
// Relative to now, for tables: "in 10m", "5s ago", "now".
std::string FormatRelative(int64_t at_ms, int64_t now_ms);

// A claim token as printed by `claim` and `touch`.
ClaimToken ParseToken(const std::string& text);

// The queue a command addresses; the type and domain are checked like the store checks them.
QueueRef ParseQueue(const std::string& type, const std::string& domain);

// The checks Store::Push makes, made before anything is pushed so that a bad line in a large
// input rejects all of it. Returns an empty string when `spec` is acceptable, else why not.
// (A mirror of the engine's private validation; see the CLI report.)
std::string CheckSpec(const JobSpec& spec);

// "1 job", "2 jobs": `n` and `noun` ("job", "abandoned job"), plural when n != 1.
std::string CountOf(uint64_t n, const std::string& noun);

// A name for humans: the default domain "" is shown as "(default)".
std::string ShowDomain(const std::string& domain);

}  // namespace jobstore::cli
