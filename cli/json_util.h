// JSON in and out: parsing user input with a depth limit, the canonical form params are
// stored in, and printing results.
#pragma once

#include <ostream>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace jobstore::cli {

// Output objects keep the order their fields were added in.
using OJson = nlohmann::ordered_json;

// Parses `text` as one JSON document, nested at most 256 deep. On failure returns false and
// sets `error` to what is wrong and where.
bool ParseJson(const std::string& text, nlohmann::json* out, std::string* error);

// The canonical form of a JSON value: keys sorted (bytewise), no spaces, numbers as parsed.
// Two params objects that differ only in key order or spacing have the same canonical form,
// so their dedup hashes agree.
std::string Canonical(const nlohmann::json& value);

// Canonical params from text typed by a user: must be a JSON object. `where` prefixes the
// error ("PARAMS_JSON", "stdin line 3"). Returns false and sets `error` otherwise.
bool CanonicalParams(const std::string& where, const std::string& text, std::string* canonical,
                     std::string* error);

// Stored params as a JSON value for output: the parsed JSON when they are JSON (what the CLI
// stores), else the bytes as a string.
OJson ParamsJson(const std::string& stored);

// A duration in milliseconds as seconds: an integer when whole, else a fraction.
OJson Seconds(int64_t ms);

// Prints one JSON document on a line of stdout.
void PrintJson(const OJson& value);
// The same, to `out`.
void PrintJson(std::ostream& out, const OJson& value);

}  // namespace jobstore::cli
