// The jobstore CLI, driven as a user drives it: the built binary, in a temp directory, with
// its stdout, stderr and exit status checked. The clock is pinned with $JOBSTORE_TEST_NOW_MS,
// so times in the output are exact and "later" is a larger number, never a sleep.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/cli_harness.h"
#include "jobstore/store.h"

namespace jobstore::clitest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kNow = 1'700'000'000'000;

json J(const char* text) { return json::parse(text); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class cli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/jobstore-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = dir_ + "/store";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // jobstore --store <store> ARGS, at time `now`.
  Output Run(std::vector<std::string> args, const std::string& input = "", int64_t now = kNow) {
    Invocation inv;
    inv.args = {"--store", store_};
    inv.args.insert(inv.args.end(), args.begin(), args.end());
    inv.input = input;
    inv.env["JOBSTORE_TEST_NOW_MS"] = std::to_string(now);
    return RunBinary(JOBSTORE_CLI, inv);
  }

  // jobstore --store <store> --json ARGS; must succeed and print one JSON document.
  json RunJson(std::vector<std::string> args, const std::string& input = "", int64_t now = kNow) {
    args.insert(args.begin(), "--json");
    Output o = Run(args, input, now);
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out.find('\n'), o.out.size() - 1) << "one line expected: " << o.out;
    return json::parse(o.out);
  }

  // Runs and expects success; returns stdout.
  std::string Ok(std::vector<std::string> args, const std::string& input = "", int64_t now = kNow) {
    Output o = Run(args, input, now);
    EXPECT_EQ(o.status, 0) << o.err;
    return o.out;
  }

  void Init() { Ok({"init"}); }

  // Counts of the default-domain queue of `type` from `stats --json`.
  json Counts(const std::string& type, const std::string& domain = "") {
    json stats = RunJson({"stats", "--type", type, "--domain", domain});
    if (stats["queues"].empty()) return json::object();
    json q = stats["queues"][0];
    return json{{"ready", q["ready"]},
                {"claimed", q["claimed"]},
                {"delayed", q["delayed"]},
                {"abandoned", q["abandoned"]}};
  }

  // Claims one job of `type`; returns its JSON line.
  json ClaimOne(const std::string& type, std::vector<std::string> extra = {}, int64_t now = kNow) {
    std::vector<std::string> args = {"claim", type};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string out = Ok(args, "", now);
    EXPECT_FALSE(out.empty());
    return json::parse(out.substr(0, out.find('\n')));
  }

  static std::vector<json> Lines(const std::string& text) {
    std::vector<json> lines;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      lines.push_back(json::parse(text.substr(start, end - start)));
      start = end + 1;
    }
    return lines;
  }

  static json CountsOf(int ready, int claimed, int delayed, int abandoned) {
    return json{{"ready", ready}, {"claimed", claimed}, {"delayed", delayed}, {"abandoned", abandoned}};
  }

  std::string dir_, store_;
};

// The error is on stderr, names the problem, and stdout is empty.
#define EXPECT_FAILS(output, code, text)                                 \
  do {                                                                   \
    const Output& o_ = (output);                                         \
    EXPECT_EQ(o_.status, code) << o_.err;                                \
    EXPECT_NE(o_.err.find(text), std::string::npos) << o_.err;           \
    EXPECT_EQ(o_.out, "") << o_.out;                                     \
  } while (0)

// --- init and the store directory ------------------------------------------------------------

TEST_F(cli, InitCreatesOnceAndIsIdempotent) {
  EXPECT_EQ(RunJson({"init"}), (json{{"store", store_}, {"created", true}}));
  EXPECT_EQ(RunJson({"init"}), (json{{"store", store_}, {"created", false}}));
  EXPECT_EQ(Ok({"init"}), "store exists: " + store_ + "\n");
  EXPECT_TRUE(fs::exists(store_ + "/CURRENT"));
}

TEST_F(cli, AStoreAndWhatItWritesArePrivateWhateverTheUmask) {
  const mode_t old = ::umask(0);  // the child inherits it: the most permissive there is
  auto mode = [](const std::string& path) {
    return static_cast<unsigned>(fs::status(path).permissions()) & 0777;
  };
  Init();
  Ok({"push", "email", R"({"to":"ann@example.org"})"});
  EXPECT_EQ(mode(store_), 0700u);
  for (const auto& e : fs::directory_iterator(store_)) {
    EXPECT_EQ(mode(e.path().string()), 0600u) << e.path();
  }
  Ok({"export", "--output", dir_ + "/jobs.jsonl"});
  EXPECT_EQ(mode(dir_ + "/jobs.jsonl"), 0600u);
  EXPECT_NE(ReadAll(dir_ + "/jobs.jsonl").find("ann@example.org"), std::string::npos);
  Ok({"checkpoint", dir_ + "/copy"});
  EXPECT_EQ(mode(dir_ + "/copy"), 0700u);
  // A store others can read is reported by check (which still passes).
  fs::permissions(store_, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  Output checked = Run({"check"});
  EXPECT_EQ(checked.status, 0);
  EXPECT_NE(checked.err.find("warning: store '" + store_ + "' is open to other users (mode 0705)"),
            std::string::npos)
      << checked.err;
  // A group store, when asked for.
  store_ = dir_ + "/shared";
  Ok({"init", "--group-read"});
  EXPECT_EQ(mode(store_), 0750u);
  EXPECT_EQ(Run({"check"}).err, "");
  ::umask(old);
}

TEST_F(cli, StoreDirComesFromEnvironmentThenDefault) {
  Invocation inv;
  inv.args = {"init"};
  inv.env["JOBSTORE_DIR"] = dir_ + "/from-env";
  Output o = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "created store " + dir_ + "/from-env\n");

  inv.env.clear();
  inv.cwd = dir_;
  o = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "created store ./jobstore-data\n");
  EXPECT_TRUE(fs::exists(dir_ + "/jobstore-data/CURRENT"));

  // --store wins over the environment.
  inv.args = {"--store", store_, "init"};
  inv.env["JOBSTORE_DIR"] = dir_ + "/from-env";
  o = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(o.out, "created store " + store_ + "\n");
}

TEST_F(cli, MissingStoreIsReportedByEveryCommand) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"stats"}, {"list"}, {"queues"}, {"check"}, {"export"},
        {"push", "email", "{}"}, {"claim", "email"}, {"maintain"}}) {
    EXPECT_FAILS(Run(args), 1, "no store at '" + store_ + "': create one with 'jobstore --store");
  }
  EXPECT_FALSE(fs::exists(store_));  // nothing was created by accident
}

// --- push ------------------------------------------------------------------------------------

TEST_F(cli, PushPrintsTheNewIds) {
  Init();
  EXPECT_EQ(Ok({"push", "email", R"({"to":"ann@example.org"})"}), "1\n");
  EXPECT_EQ(RunJson({"push", "email", "{}"}),
            J(R"({"pushed":1,"duplicates":0,"ids":[2],"duplicate_of":[]})"));
  EXPECT_EQ(Counts("email"), CountsOf(2, 0, 0, 0));
}

TEST_F(cli, PushStoresCanonicalParamsSoDedupIgnoresKeyOrder) {
  Init();
  EXPECT_EQ(Ok({"push", "refresh", R"({ "page": 42, "a": {"z": 1, "b": [2, 1.5]} })", "--dedup"}),
            "1\n");
  Output dup = Run({"--json", "push", "refresh", R"({"a":{"b":[2,1.5],"z":1},"page":42})", "--dedup"});
  EXPECT_EQ(dup.status, 0);
  EXPECT_EQ(json::parse(dup.out), J(R"({"pushed":0,"duplicates":1,"ids":[],"duplicate_of":[1]})"));
  dup = Run({"push", "refresh", R"({"page":42,"a":{"z":1,"b":[2,1.5]}})", "--dedup"});
  EXPECT_EQ(dup.out, "");
  EXPECT_EQ(dup.err, "jobstore: duplicate of queued job 1, not pushed\n");

  json list = RunJson({"list"});
  ASSERT_EQ(list["jobs"].size(), 1u);
  // The stored bytes are canonical: export prints them parsed; list shows them verbatim.
  EXPECT_EQ(list["jobs"][0]["params"], J(R"({"a":{"b":[2,1.5],"z":1},"page":42})"));
  EXPECT_NE(Ok({"list"}).find(R"({"a":{"b":[2,1.5],"z":1},"page":42})"), std::string::npos);
}

TEST_F(cli, PushRejectsBadParams) {
  Init();
  EXPECT_FAILS(Run({"push", "email", "[1,2]"}), 2,
               "PARAMS_JSON: params must be a JSON object like {\"page\":42}, not array");
  EXPECT_FAILS(Run({"push", "email", "42"}), 2, "params must be a JSON object");
  EXPECT_FAILS(Run({"push", "email", "{\"to\":"}), 2, "PARAMS_JSON: invalid JSON: parse error");
  EXPECT_FAILS(Run({"push", "email", "{\"a\":\"\xff\"}"}), 2, "invalid JSON");
  // Deep nesting is refused, never a crash.
  std::string deep(100000, '[');
  EXPECT_FAILS(Run({"push", "email", "{\"a\":" + deep}), 2, "nested deeper than 256 levels");
  EXPECT_FAILS(Run({"push", "email"}, "{}\n{\"a\":" + std::string(1000000, '[') + "\n"), 2,
               "stdin line 2: invalid JSON: nested deeper than 256 levels");
  EXPECT_FAILS(Run({"push", "bad type!", "{}"}), 2, "job type 'bad type!' has a forbidden character");
  EXPECT_FAILS(Run({"push", "email", "{}", "--domain", "no spaces"}), 2, "domain 'no spaces'");
  EXPECT_FAILS(Run({"push", "email", "{}", "--priority", "abc"}), 2,
               "--priority: 'abc' is not a whole number from -1000000 to 1000000");
  EXPECT_FAILS(Run({"push", "email", "{}", "--priority", "1000001"}), 2, "--priority");
  EXPECT_FAILS(Run({"push", "email", "{}", "--delay", "-5"}), 2, "--delay: '-5' is not a duration");
  EXPECT_FAILS(Run({"push", "email", "{}", "--delay", "nan"}), 2, "--delay: 'nan' is not a duration");
  EXPECT_FAILS(Run({"push", "email", "{}", "--root-time", "5"}), 2,
               "--root-time and --root-self need --root SIGNATURE");
  EXPECT_FAILS(Run({"push", "email", "{}", "--root", "sig", "--root-time", "x"}), 2,
               "--root-time: 'x' is not a whole number");
  EXPECT_EQ(RunJson({"stats"})["queues"], json::array());  // nothing was pushed
}

TEST_F(cli, PushWithDelayPriorityAndRoot) {
  Init();
  Ok({"push", "email", R"({"n":1})", "--delay", "10m", "--priority", "7", "--domain", "wiki2"});
  Ok({"push", "email", R"({"n":2})", "--root", "page-42", "--root-time", "1699999999000"});
  json jobs = RunJson({"list"})["jobs"];
  ASSERT_EQ(jobs.size(), 2u);
  // Sorted by (domain, type): the default domain first.
  EXPECT_EQ(jobs[0], J(R"({"id":2,"type":"email","domain":"","state":"ready","params":{"n":2},
      "attempts":0,"priority":0,"enqueued_at_ms":1700000000000,"release_at_ms":0,"deadline_ms":0,
      "claimed_at_ms":0,"abandoned_at_ms":0,"last_error":"","root_signature":"page-42",
      "root_timestamp_ms":1699999999000,"dedup":false,"corrupt":false})"));
  EXPECT_EQ(jobs[1]["state"], "delayed");
  EXPECT_EQ(jobs[1]["domain"], "wiki2");
  EXPECT_EQ(jobs[1]["priority"], 7);
  EXPECT_EQ(jobs[1]["release_at_ms"], kNow + 600'000);
}

TEST_F(cli, PushRootSelfSupersedesOlderJobsOfTheSignature) {
  Init();
  Ok({"push", "refresh", R"({"page":1})", "--root", "pages", "--root-time", "1000"});
  Ok({"push", "refresh", R"({"page":2})", "--root", "pages", "--root-time", "2000", "--root-self"});
  // The claim acks the superseded job unrun (saying so) and hands out the current one.
  Output o = Run({"claim", "refresh", "--count", "5"});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<json> claimed = Lines(o.out);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0]["id"], 2);
  EXPECT_NE(o.err.find("job 1 was superseded by a newer root job (pages); acked without running"),
            std::string::npos) << o.err;
  EXPECT_EQ(Counts("refresh"), CountsOf(0, 1, 0, 0));
}

TEST_F(cli, PushReadsJsonLinesFromStdin) {
  Init();
  std::string input =
      "{\"page\":1}\n"
      "\n"
      "{\"type\":\"resize\",\"domain\":\"wiki2\",\"params\":{\"w\":100},\"priority\":3}\r\n"
      "{\"params\":{\"page\":2},\"delay\":60}\n"
      "{\"type\":\"not-an-envelope\",\"page\":3}\n";
  EXPECT_EQ(Ok({"push", "refresh"}, input), "1\n2\n3\n4\n");
  json stats = RunJson({"stats"});
  EXPECT_EQ(stats, J(R"({"queues":[
      {"domain":"","type":"refresh","ready":2,"claimed":0,"delayed":1,"abandoned":0},
      {"domain":"wiki2","type":"resize","ready":1,"claimed":0,"delayed":0,"abandoned":0}],
      "total":{"ready":3,"claimed":0,"delayed":1,"abandoned":0}})"));
  json jobs = RunJson({"list", "--type", "refresh", "--state", "ready"})["jobs"];
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[1]["params"], J(R"({"page":3,"type":"not-an-envelope"})"));
}

TEST_F(cli, PushRejectsTheWholeInputForOneBadLine) {
  Init();
  EXPECT_FAILS(Run({"push", "refresh"}, "{\"page\":1}\n{\"page\":2}\n{\"page\":\n{\"page\":4}\n"), 2,
               "stdin line 3: invalid JSON: parse error");
  EXPECT_FAILS(Run({"push", "refresh"}, "{}\n[1]\n"), 2,
               "stdin line 2: expected a params object or {\"type\":..,\"params\":{..}}, not array");
  EXPECT_FAILS(Run({"push", "refresh"}, "{}\n{\"params\":{},\"priority\":\"high\"}\n"), 2,
               "stdin line 2: \"priority\" must be a whole number");
  EXPECT_FAILS(Run({"push", "refresh"}, "{\"params\":{},\"type\":\"a b\"}\n"), 2,
               "stdin line 1: job type 'a b' has a forbidden character");
  EXPECT_FAILS(Run({"push", "refresh"}, "{\"params\":[]}\n"), 2,
               "stdin line 1: \"params\" must be a JSON object");
  EXPECT_FAILS(Run({"push", "refresh"}, "{\"params\":{},\"delay\":-1}\n"), 2, "stdin line 1: \"delay\"");
  Output o = Run({"push", "refresh"}, "{}\nnot json\n");
  EXPECT_NE(o.err.find("nothing was pushed: fix the line and try again"), std::string::npos);
  EXPECT_EQ(RunJson({"stats"})["queues"], json::array());
}

TEST_F(cli, PushLargeInputInBatchesWithAProgressBar) {
  Init();
  std::string input;
  for (int i = 0; i < 2500; ++i) input += "{\"i\":" + std::to_string(i) + "}\n";
  Invocation inv;
  inv.args = {"--store", store_, "--json", "push", "bulk"};
  inv.input = input;
  inv.env["JOBSTORE_PROGRESS"] = "always";
  Output o = RunBinary(JOBSTORE_CLI, inv);
  ASSERT_EQ(o.status, 0) << o.err;
  json r = json::parse(o.out);
  EXPECT_EQ(r["pushed"], 2500);
  EXPECT_EQ(r["ids"].size(), 2500u);
  EXPECT_EQ(r["ids"][0], 1);
  EXPECT_EQ(r["ids"][2499], 2500);
  EXPECT_NE(o.err.find("push ["), std::string::npos);  // the bar, on stderr only
  EXPECT_NE(o.err.find("2500/2500"), std::string::npos);
  EXPECT_EQ(Counts("bulk"), CountsOf(2500, 0, 0, 0));
  // Without a terminal (and without the override) there is no bar.
  EXPECT_EQ(Run({"push", "bulk"}, "{}\n").err, "");
}

// --- claim, ack, release, touch ----------------------------------------------------------------

TEST_F(cli, ClaimPrintsOneJsonObjectPerJobAndAckFinishesIt) {
  Init();
  Ok({"push", "email", R"({"to":"ann"})"});
  Ok({"push", "email", R"({"to":"bob"})"});
  Output o = Run({"claim", "email", "--count", "5"});
  ASSERT_EQ(o.status, 0) << o.err;
  std::vector<json> jobs = Lines(o.out);
  ASSERT_EQ(jobs.size(), 2u);
  std::string token = jobs[0]["token"];
  EXPECT_EQ(token.size(), 32u);
  EXPECT_EQ(jobs[0], (json{{"id", 1}, {"token", token}, {"type", "email"}, {"domain", ""},
                           {"params", {{"to", "ann"}}}, {"attempts", 1}}));
  EXPECT_EQ(jobs[1]["id"], 2);
  EXPECT_EQ(Counts("email"), CountsOf(0, 2, 0, 0));
  // The lease is the type's claim TTL (one hour by default) from now.
  EXPECT_EQ(RunJson({"list"})["jobs"][0]["deadline_ms"], kNow + 3'600'000);

  EXPECT_EQ(Ok({"ack", "email", "1", token}), "acked job 1\n");
  EXPECT_EQ(RunJson({"ack", "email", "2", jobs[1]["token"]}), J(R"({"id":2,"acked":true})"));
  EXPECT_EQ(Counts("email"), CountsOf(0, 0, 0, 0));
  // Acking again: the job is gone.
  EXPECT_FAILS(Run({"ack", "email", "1", token}), 1, "ack job 1: not found: job 1");
}

TEST_F(cli, ClaimWithNothingReadyPrintsNothing) {
  Init();
  Ok({"push", "email", "{}", "--delay", "60"});
  Output o = Run({"claim", "email"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "");
}

TEST_F(cli, ClaimTtlAndBadInput) {
  Init();
  Ok({"push", "email", "{}"});
  EXPECT_FAILS(Run({"claim", "emial"}), 2, "unknown job type 'emial': this store has never held one; its types are: email");
  EXPECT_FAILS(Run({"claim", "email", "--count", "0"}), 2, "--count: '0' is not a whole number from 1");
  EXPECT_FAILS(Run({"claim", "email", "--count", "ten"}), 2, "--count: 'ten'");
  EXPECT_FAILS(Run({"claim", "email", "--ttl", "5x"}), 2, "--ttl: '5x' is not a duration");
  json job = ClaimOne("email", {"--ttl", "90s"});
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_EQ(RunJson({"list", "--state", "claimed"})["jobs"][0]["deadline_ms"], kNow + 90'000);
}

TEST_F(cli, AckRejectsWrongTokensTypesAndIds) {
  Init();
  Ok({"push", "email", "{}"});
  json job = ClaimOne("email");
  std::string token = job["token"];
  std::string other = token;
  other[31] = other[31] == '0' ? '1' : '0';
  EXPECT_FAILS(Run({"ack", "email", "1", other}), 1, "ack job 1: the claim is stale");
  EXPECT_FAILS(Run({"ack", "email", "1", "xyz"}), 2,
               "TOKEN 'xyz' is not a claim token; pass the 32 hex digits");
  EXPECT_FAILS(Run({"ack", "mail", "1", token}), 2, "unknown job type 'mail'");
  EXPECT_FAILS(Run({"ack", "email", "one", token}), 2, "ID: 'one' is not a whole number");
  EXPECT_FAILS(Run({"ack", "email", "1"}), 2, "TOKEN is required");
  EXPECT_EQ(Counts("email"), CountsOf(0, 1, 0, 0));  // still claimed
  EXPECT_EQ(Ok({"ack", "email", "1", token}), "acked job 1\n");
}

TEST_F(cli, ReleaseReturnsDelaysOrAbandons) {
  Init();
  Ok({"config", "email", "--max-tries", "2"});
  Ok({"push", "email", "{}"});
  json job = ClaimOne("email");
  EXPECT_EQ(Ok({"release", "email", "1", job["token"]}), "released job 1: now ready\n");
  EXPECT_EQ(Counts("email"), CountsOf(1, 0, 0, 0));

  job = ClaimOne("email");
  EXPECT_EQ(job["attempts"], 2);
  EXPECT_EQ(RunJson({"release", "email", "1", job["token"], "--delay", "5m"}),
            J(R"({"id":1,"released":true,"state":"delayed","release_at_ms":1700000300000})"));
  EXPECT_EQ(RunJson({"list"})["jobs"][0]["release_at_ms"], kNow + 300'000);

  // Due at +5m: a maintenance pass promotes it; a failed third try uses up max-tries 2.
  EXPECT_EQ(RunJson({"maintain"}, "", kNow + 300'000),
            J(R"({"promoted":1,"reclaimed":0,"abandoned":0,"pruned":0,"roots_expired":0,"more":false})"));
  job = ClaimOne("email", {}, kNow + 300'000);
  EXPECT_EQ(Ok({"release", "email", "1", job["token"], "--error", "SMTP 451"}, "", kNow + 300'000),
            "released job 1: now abandoned (attempts used up (3 of 2))\n");
  json abandoned = RunJson({"list", "--state", "abandoned"})["jobs"][0];
  EXPECT_EQ(abandoned["last_error"], "SMTP 451");
  EXPECT_EQ(abandoned["attempts"], 3);
  EXPECT_NE(Ok({"list"}).find("error: SMTP 451; {}"), std::string::npos);

  EXPECT_EQ(Ok({"repush-abandoned", "email"}), "moved 1 abandoned job back to ready\n");
  EXPECT_EQ(Counts("email"), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(ClaimOne("email")["attempts"], 1);  // attempts were reset
  EXPECT_FAILS(Run({"release", "email", "1", job["token"], "--delay", "soon"}), 2, "--delay: 'soon'");
}

TEST_F(cli, TouchExtendsTheLeaseAndReplacesTheToken) {
  Init();
  Ok({"push", "email", "{}"});
  json job = ClaimOne("email", {"--ttl", "60"});
  json touched = RunJson({"touch", "email", "1", job["token"], "--ttl", "10m"}, "", kNow + 30'000);
  EXPECT_EQ(touched["id"], 1);
  EXPECT_EQ(touched["deadline_ms"], kNow + 30'000 + 600'000);
  EXPECT_NE(touched["token"], job["token"]);
  EXPECT_EQ(RunJson({"list"})["jobs"][0]["deadline_ms"], kNow + 630'000);
  // The old token is stale now; the new one works (touch prints just the token).
  EXPECT_FAILS(Run({"touch", "email", "1", job["token"]}), 1, "touch job 1: the claim is stale");
  std::string text = Ok({"touch", "email", "1", touched["token"]});
  EXPECT_EQ(text.size(), 33u);
  EXPECT_EQ(Ok({"ack", "email", "1", text.substr(0, 32)}), "acked job 1\n");
}

// --- inspection ------------------------------------------------------------------------------

TEST_F(cli, StatsTable) {
  Init();
  EXPECT_EQ(Ok({"stats"}), "no queues yet (push a job with 'jobstore push TYPE PARAMS_JSON')\n");
  Ok({"push", "email", "{}"});
  Ok({"push", "email", "{}", "--delay", "60"});
  Ok({"push", "resize", "{}", "--domain", "wiki2"});
  EXPECT_EQ(Ok({"stats"}),
            "DOMAIN     TYPE    READY  CLAIMED  DELAYED  ABANDONED\n"
            "(default)  email       1        0        1          0\n"
            "wiki2      resize      1        0        0          0\n"
            "total                  2        0        1          0\n");
  EXPECT_EQ(Ok({"stats", "--domain", "wiki2"}),
            "DOMAIN  TYPE    READY  CLAIMED  DELAYED  ABANDONED\n"
            "wiki2   resize      1        0        0          0\n");
  EXPECT_EQ(RunJson({"stats", "--type", "nope"}),
            J(R"({"queues":[],"total":{"ready":0,"claimed":0,"delayed":0,"abandoned":0}})"));
}

TEST_F(cli, ListTableFiltersAndLimit) {
  Init();
  Ok({"push", "email", R"({"to":"ann"})"});
  Ok({"push", "email", R"({"to":"bob"})", "--delay", "90"});
  Ok({"push", "email", R"({"to":"cy"})"});
  ClaimOne("email");
  EXPECT_EQ(Ok({"list"}, "", kNow + 5'000),
            "ID  TYPE   DOMAIN     STATE    ATTEMPTS  PRIORITY  WHEN                            PARAMS\n"
            " 3  email  (default)  ready           0         0  queued 5s ago                   {\"to\":\"cy\"}\n"
            " 1  email  (default)  claimed         1         0  held 5s, lease ends in 59m 55s  {\"to\":\"ann\"}\n"
            " 2  email  (default)  delayed         0         0  runs in 1m 25s                  {\"to\":\"bob\"}\n");
  json page = RunJson({"list", "--limit", "2"});
  EXPECT_EQ(page["jobs"].size(), 2u);
  EXPECT_EQ(page["more"], true);
  Output o = Run({"list", "--limit", "1"});
  EXPECT_NE(o.err.find("showing the first 1 job; raise --limit for more"), std::string::npos);
  EXPECT_EQ(RunJson({"list", "--state", "delayed"})["jobs"][0]["id"], 2);
  EXPECT_EQ(RunJson({"list", "--domain", "wiki9"}), J(R"({"jobs":[],"more":false})"));
  EXPECT_EQ(Ok({"list", "--type", "nope"}), "no jobs\n");
  EXPECT_FAILS(Run({"list", "--state", "done"}), 2,
               "--state: 'done' is not ready, claimed, delayed or abandoned");
  EXPECT_FAILS(Run({"list", "--limit", "-1"}), 2, "--limit");
}

TEST_F(cli, QueuesAndPick) {
  Init();
  EXPECT_EQ(Ok({"queues"}), "no queue has ready jobs\n");
  EXPECT_EQ(Ok({"queues", "--pick"}), "");
  EXPECT_EQ(RunJson({"queues", "--pick"}), json(nullptr));
  Ok({"push", "email", "{}"});
  Ok({"push", "email", "{}"});
  Ok({"push", "resize", "{}", "--domain", "wiki2"});
  Ok({"push", "later", "{}", "--delay", "60"});
  EXPECT_EQ(Ok({"queues"}),
            "DOMAIN     TYPE    READY\n"
            "(default)  email       2\n"
            "wiki2      resize      1\n");
  EXPECT_EQ(RunJson({"queues"}), J(R"({"queues":[{"domain":"","type":"email","ready":2},
                                                 {"domain":"wiki2","type":"resize","ready":1}]})"));
  EXPECT_EQ(Ok({"queues", "--pick", "--exclude", "email"}), "resize\twiki2\n");
  EXPECT_EQ(Ok({"queues", "--pick", "--type", "email"}), "email\n");
  EXPECT_EQ(RunJson({"queues", "--pick", "--domain", "wiki2"}), J(R"({"domain":"wiki2","type":"resize"})"));
}

TEST_F(cli, CheckReportsAHealthyStore) {
  Init();
  Ok({"push", "email", "{}"});
  ClaimOne("email");
  EXPECT_EQ(Ok({"check"}), "ok: every invariant holds\n");
  EXPECT_EQ(RunJson({"check"}), J(R"({"ok":true,"violations":[]})"));
}

TEST_F(cli, ConfigShowsAndChangesSettings) {
  Init();
  EXPECT_EQ(RunJson({"config", "email"}),
            J(R"({"type":"email","order":"fifo","claim_ttl_seconds":3600,"max_tries":3,
                  "retries":true,"retention_seconds":604800,"root_ttl_seconds":2419200})"));
  EXPECT_EQ(Ok({"config", "email"}),
            "SETTING    VALUE\n"
            "type       email\n"
            "order      fifo\n"
            "claim-ttl  1h\n"
            "max-tries  3\n"
            "retries    yes\n"
            "retention  7d\n"
            "root-ttl   28d\n");
  EXPECT_EQ(RunJson({"config", "email", "--order", "priority", "--claim-ttl", "1.5",
                     "--max-tries", "5", "--retries", "no", "--retention", "2d"}),
            J(R"({"type":"email","order":"priority","claim_ttl_seconds":1.5,"max_tries":5,
                  "retries":false,"retention_seconds":172800,"root_ttl_seconds":2419200})"));
  EXPECT_EQ(RunJson({"config", "email"})["order"], "priority");  // persisted
  EXPECT_FAILS(Run({"config", "email", "--order", "lifo"}), 2,
               "--order: 'lifo' is not fifo, random or priority");
  EXPECT_FAILS(Run({"config", "email", "--max-tries", "0"}), 2, "--max-tries: '0'");
  EXPECT_FAILS(Run({"config", "email", "--retries", "maybe"}), 2, "--retries: 'maybe' is not yes or no");
  EXPECT_FAILS(Run({"config", "email", "--claim-ttl", "forever"}), 2, "--claim-ttl: 'forever'");
}

TEST_F(cli, PriorityOrderIsFollowedByClaim) {
  Init();
  Ok({"config", "jobs", "--order", "priority"});
  Ok({"push", "jobs", "{}", "--priority", "1"});
  Ok({"push", "jobs", "{}", "--priority", "9"});
  EXPECT_EQ(ClaimOne("jobs")["id"], 2);
}

TEST_F(cli, MaintainReclaimsExpiredClaims) {
  Init();
  EXPECT_EQ(Ok({"maintain"}),
            "promoted 0, reclaimed 0, abandoned 0, pruned 0, root jobs expired 0\n");
  Ok({"push", "email", "{}"});
  ClaimOne("email", {"--ttl", "5"});
  EXPECT_EQ(RunJson({"maintain"}, "", kNow + 4'000)["reclaimed"], 0);
  EXPECT_EQ(RunJson({"maintain"}, "", kNow + 6'000)["reclaimed"], 1);
  EXPECT_EQ(Counts("email"), CountsOf(1, 0, 0, 0));
}

TEST_F(cli, ClearDeletesEveryJobOfTheQueue) {
  Init();
  Ok({"push", "email", "{}"});
  Ok({"push", "email", "{}", "--delay", "60"});
  Ok({"push", "email", "{}", "--domain", "wiki2"});
  ClaimOne("email");
  EXPECT_EQ(RunJson({"clear", "email"}), J(R"({"type":"email","domain":"","deleted":2})"));
  EXPECT_EQ(Counts("email"), CountsOf(0, 0, 0, 0));
  EXPECT_EQ(Counts("email", "wiki2"), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Ok({"clear", "email", "--domain", "wiki2"}), "deleted 1 job\n");
  EXPECT_FAILS(Run({"clear", "nope"}), 2, "unknown job type 'nope'");
}

// --- export, import, checkpoint ---------------------------------------------------------------

TEST_F(cli, ExportThenImportIsAFaithfulBackup) {
  Init();
  Ok({"config", "email", "--max-tries", "1", "--order", "priority"});
  Ok({"push", "email", R"({"n":1})", "--priority", "4", "--dedup"});  // 1: abandoned below
  Ok({"push", "email", R"({"n":2})", "--delay", "1h"});               // 2: delayed
  Ok({"push", "email", R"({"n":3})", "--domain", "wiki2"});           // 3: claimed
  Ok({"push", "email", R"({"n":4})", "--root", "r", "--root-time", "7", "--dedup"});  // 4: ready
  Ok({"push", "thumb", R"({"n":5})"});                                // 5: ready
  json claimed = ClaimOne("email", {"--domain", "wiki2"});
  json doomed = ClaimOne("email");  // job 1 (priority 4 first), then abandoned
  ASSERT_EQ(doomed["id"], 1);
  Ok({"release", "email", "1", doomed["token"], "--error", "boom"});
  Output o = Run({"export"});
  ASSERT_EQ(o.status, 0) << o.err;
  std::vector<json> lines = Lines(o.out);
  ASSERT_EQ(lines.size(), 7u);  // two types' settings, five jobs
  EXPECT_EQ(lines[0], J(R"({"type":"email","settings":{"order":"priority","claim_ttl_ms":3600000,
      "max_tries":1,"retries":true,"retention_ms":604800000,"root_job_ttl_ms":2419200000}})"));
  EXPECT_EQ(lines[1]["type"], "thumb");
  EXPECT_EQ(lines[2], J(R"({"id":4,"type":"email","domain":"","state":"ready","params":{"n":4},
      "attempts":0,"priority":0,"enqueued_at_ms":1700000000000,"release_at_ms":0,"deadline_ms":0,
      "claimed_at_ms":0,"abandoned_at_ms":0,"last_error":"","root_signature":"r",
      "root_timestamp_ms":7,"dedup":true,"corrupt":false})"));
  EXPECT_EQ(lines[3]["state"], "delayed");
  EXPECT_EQ(lines[4]["state"], "abandoned");
  EXPECT_EQ(lines[4]["last_error"], "boom");
  EXPECT_EQ(lines[4]["attempts"], 1);
  EXPECT_EQ(lines[4]["abandoned_at_ms"], kNow);
  EXPECT_EQ(lines[5]["type"], "thumb");
  EXPECT_EQ(lines[6]["state"], "claimed");
  std::vector<json> wiki = Lines(Ok({"export", "--domain", "wiki2"}));  // settings are per type
  ASSERT_EQ(wiki.size(), 3u);
  EXPECT_EQ(wiki[2], lines[6]);

  store_ = dir_ + "/copy";  // from here on the commands work on a new store
  Init();
  EXPECT_EQ(Ok({"import"}, o.out),
            "imported 5 jobs\n"
            "configured 2 types\n"
            "1 claimed job queued as ready\n");
  // Exported again: the same lines, but the claimed job is ready (its lease died with the old
  // store) with its attempts.
  std::vector<json> copied = Lines(Ok({"export"}));
  std::vector<json> want = lines;
  want[6]["state"] = "ready";
  want[6]["deadline_ms"] = 0;
  want[6]["claimed_at_ms"] = 0;
  EXPECT_EQ(want[6]["attempts"], 1);
  ASSERT_EQ(copied.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(copied[i], want[i]) << "line " << i;
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(3, 0, 1, 1));
  Ok({"check"});

  // The same export again adds nothing; --new-ids adds every job again under new ids.
  std::string file = dir_ + "/export.jsonl";
  std::ofstream(file) << o.out;
  EXPECT_EQ(Ok({"import", file}),
            "imported 0 jobs (5 jobs already in the store)\n"
            "configured 2 types\n"
            "1 claimed job queued as ready\n");
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(3, 0, 1, 1));
  EXPECT_EQ(RunJson({"import", file, "--new-ids", "--abandoned", "skip"}),
            J(R"({"imported":4,"already_present":0,"types_configured":2,"claimed_requeued":1,
                "abandoned_skipped":1,"corrupt_skipped":0})"));
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(6, 0, 2, 1));
}

TEST_F(cli, ImportRefusesIdsTheStoreHoldsForOtherJobs) {
  Init();
  Ok({"push", "email", R"({"mine":1})"});  // job 1 of this store
  const std::string theirs =
      R"({"id":1,"type":"email","params":{"theirs":1},"enqueued_at_ms":5})" "\n"
      R"({"id":2,"type":"email","params":{"theirs":2},"enqueued_at_ms":5})" "\n";
  EXPECT_FAILS(Run({"import"}, theirs), 2,
               "the store already has other jobs under 1 id of the input (1 of 'email'); nothing "
               "was imported: import with --new-ids");
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Ok({"import", "--new-ids"}, theirs), "imported 2 jobs\n");
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(3, 0, 0, 0));
}

TEST_F(cli, ImportKeepsParamsThatAreNotCanonicalJsonByteForByte) {
  Init();
  // Bytes that are not UTF-8 and JSON that is not canonical: the export carries the bytes as
  // base64 beside a readable form; a string JSON holds exactly needs none.
  const std::string lines_in =
      R"({"id":9,"type":"raw","params":"x","params_base64":"//79"})" "\n"
      R"({"id":10,"type":"raw","params":"x","params_base64":"eyAiYSI6IDEgfQ=="})" "\n"
      R"({"id":11,"type":"raw","params":"bin\u0000ary"})" "\n";
  EXPECT_EQ(Ok({"import"}, lines_in), "imported 3 jobs\n");
  std::vector<json> lines = Lines(Ok({"export", "--type", "raw"}));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1]["params_base64"], "//79");
  EXPECT_EQ(lines[2]["params_base64"], "eyAiYSI6IDEgfQ==");  // '{ "a": 1 }', spaced
  EXPECT_EQ(lines[2]["params"], J(R"({"a":1})"));
  EXPECT_EQ(lines[3]["params"], std::string("bin\0ary", 7));
  EXPECT_EQ(lines[3].count("params_base64"), 0u);
  // Imported again into a fresh store and exported: the same bytes.
  const std::string exported = Ok({"export", "--type", "raw"});
  store_ = dir_ + "/copy";
  Init();
  Ok({"import"}, exported);
  EXPECT_EQ(Lines(Ok({"export"})), lines);
  EXPECT_FAILS(Run({"import"}, R"({"type":"raw","params":"x","params_base64":"!!!!"})"), 2,
               "stdin line 1: \"params_base64\" is not base64");
}

TEST_F(cli, ImportRejectsTheWholeInputForOneBadLine) {
  Init();
  std::string good = R"({"type":"email","params":{},"state":"ready"})";
  EXPECT_FAILS(Run({"import"}, good + "\n{\"type\":\"email\"}\n"), 2,
               "stdin line 2: a job needs \"type\" and \"params\"");
  EXPECT_FAILS(Run({"import"}, good + "\n{\"params\":{}}\n"), 2, "stdin line 2: a line needs \"type\"");
  EXPECT_FAILS(Run({"import"}, good + "\n" + good + "\n{]\n"), 2, "stdin line 3: invalid JSON");
  EXPECT_FAILS(Run({"import"}, R"({"type":"email","params":{},"state":"gone"})"), 2,
               "stdin line 1: \"state\" 'gone' is not ready, claimed, delayed or abandoned");
  EXPECT_FAILS(Run({"import"}, R"({"type":"email","params":{},"priority":1e9})"), 2,
               "stdin line 1: \"priority\" must be a whole number");
  EXPECT_FAILS(Run({"import"}, R"({"type":"email","params":{},"attempts":-1})"), 2,
               "stdin line 1: \"attempts\" must be a whole number from 0 to 1000000");
  EXPECT_FAILS(Run({"import"}, R"({"type":"email","params":{},"last_error":7})"), 2,
               "stdin line 1: \"last_error\" must be a string");
  EXPECT_FAILS(Run({"import"}, good + "\n" + R"({"id":3,"type":"email","params":{}})" + "\n" +
                                   R"({"id":3,"type":"email","params":{}})"),
               2, "stdin line 3: job 3 of 'email' is in the input twice");
  EXPECT_FAILS(Run({"import"}, R"({"type":"email","settings":{"order":"lifo"}})"), 2,
               "stdin line 1: \"order\" 'lifo' is not fifo, random or priority");
  EXPECT_FAILS(Run({"import", "--abandoned", "maybe"}), 2,
               "--abandoned: 'maybe' is not keep, skip or ready");
  EXPECT_FAILS(Run({"import", dir_ + "/missing.jsonl"}), 1, "cannot read '" + dir_ + "/missing.jsonl'");
  EXPECT_EQ(RunJson({"stats"})["queues"], json::array());
}

TEST_F(cli, CheckpointWritesAConsistentCopy) {
  Init();
  Ok({"push", "email", "{}"});
  std::string copy = dir_ + "/snap";
  EXPECT_EQ(Ok({"checkpoint", copy}), "wrote a checkpoint of " + store_ + " to " + copy + "\n");
  Invocation inv;
  inv.args = {"--store", copy, "--json", "stats"};
  EXPECT_EQ(json::parse(RunBinary(JOBSTORE_CLI, inv).out)["total"], CountsOf(1, 0, 0, 0));
  EXPECT_FAILS(Run({"checkpoint", copy}), 2, "checkpoint to '" + copy + "': checkpoint directory");
}

// --- one job at a time -------------------------------------------------------------------------

TEST_F(cli, ShowDeleteRetryAndForceReleaseOneJob) {
  Init();
  Ok({"config", "email", "--max-tries", "1"});
  Ok({"push", "email", R"({"to":"ann"})", "--priority", "5"});
  Ok({"push", "email", R"({"to":"bob"})"});
  Ok({"push", "email", R"({"to":"cy"})"});
  // Job 1: claimed by a worker that dies; its lease never ends.
  json held = ClaimOne("email", {"--ttl", "0"});
  EXPECT_EQ(held["id"], 1);
  json shown = RunJson({"show", "email", "1"}, "", kNow + 90'000);
  EXPECT_EQ(shown["state"], "claimed");
  EXPECT_EQ(shown["attempts"], 1);
  EXPECT_EQ(shown["priority"], 5);
  EXPECT_EQ(shown["claimed_at_ms"], kNow);
  EXPECT_EQ(shown["params"], J(R"({"to":"ann"})"));
  EXPECT_EQ(shown.count("token"), 0u);  // a claim's token is never shown
  std::string table = Ok({"show", "email", "1"}, "", kNow + 90'000);
  EXPECT_NE(table.find("claimed     1m 30s ago (held for 1m 30s)"), std::string::npos) << table;
  EXPECT_NE(table.find("lease ends  never"), std::string::npos) << table;
  EXPECT_FAILS(Run({"release", "email", "1"}), 2, "TOKEN is required (or --force)");
  EXPECT_EQ(Ok({"release", "email", "1", "--force"}),
            "released job 1 by force: now ready (its claim's token is stale)\n");
  EXPECT_FAILS(Run({"ack", "email", "1", held["token"]}), 1, "the claim is stale");
  EXPECT_FAILS(Run({"release", "email", "1", "--force"}), 2, "is ready, not claimed");
  EXPECT_FAILS(Run({"release", "email", "1", held["token"], "--force"}), 2, "takes no TOKEN");
  // Job 2 is deleted while ready; job 3 fails for good and is retried by hand.
  EXPECT_EQ(Ok({"delete", "email", "2"}), "deleted job 2\n");
  EXPECT_FAILS(Run({"show", "email", "2"}), 1, "job 2 is not in queue 'email'");
  EXPECT_FAILS(Run({"delete", "email", "2"}), 1, "not found");
  json first = ClaimOne("email");  // job 1 again (priority 5)
  EXPECT_EQ(first["id"], 1);
  json third = ClaimOne("email");
  EXPECT_EQ(third["id"], 3);
  Ok({"release", "email", "3", third["token"], "--error", "SMTP 550"});
  EXPECT_EQ(RunJson({"show", "email", "3"})["state"], "abandoned");
  EXPECT_NE(Ok({"show", "email", "3"}).find("last error  SMTP 550"), std::string::npos);
  EXPECT_FAILS(Run({"retry", "email", "1"}), 2, "is claimed, not abandoned");
  EXPECT_EQ(Ok({"retry", "email", "3"}), "job 3 is ready again\n");
  json retried = RunJson({"show", "email", "3"});
  EXPECT_EQ(retried["state"], "ready");
  EXPECT_EQ(retried["attempts"], 0);
  EXPECT_EQ(Counts("email"), CountsOf(1, 1, 0, 0));
  EXPECT_FAILS(Run({"show", "email", "zero"}), 2, "ID");
}

// --- a config routing types to several stores --------------------------------------------------

TEST_F(cli, ConfigRoutesEachTypeToItsBackendForPushRunStatsAndList) {
  const std::string config = dir_ + "/jobs.json";
  {
    std::ofstream(config) << R"({"backends": {"main": "./main-store", "mail": "./mail-store"},
                                 "types": {"default": "main", "email": "mail"}})";
  }
  auto routed = [&](std::vector<std::string> args, bool json_out = false) {
    Invocation inv;
    inv.args = {"--config", config};
    if (json_out) inv.args.push_back("--json");
    inv.args.insert(inv.args.end(), args.begin(), args.end());
    inv.env["JOBSTORE_TEST_NOW_MS"] = std::to_string(kNow);
    return RunBinary(JOBSTORE_CLI, inv);
  };
  Output init = routed({"init"});
  ASSERT_EQ(init.status, 0) << init.err;
  // Relative paths are the config's directory's, whatever the working directory.
  EXPECT_TRUE(fs::exists(dir_ + "/main-store/CURRENT"));
  EXPECT_TRUE(fs::exists(dir_ + "/mail-store/CURRENT"));
  ASSERT_EQ(routed({"push", "email", R"({"to":"ann"})"}).status, 0);
  ASSERT_EQ(routed({"push", "null", "{}"}).status, 0);
  ASSERT_EQ(routed({"push", "null", "{}", "--domain", "wiki2"}).status, 0);
  EXPECT_EQ(routed({"stats"}).out,
            "DOMAIN     TYPE   READY  CLAIMED  DELAYED  ABANDONED  BACKEND\n"
            "(default)  email      1        0        0          0  mail\n"
            "(default)  null       1        0        0          0  main\n"
            "wiki2      null       1        0        0          0  main\n"
            "total                 3        0        0          0\n");
  json stats = json::parse(routed({"stats"}, true).out);
  EXPECT_EQ(stats["queues"][0]["backend"], "mail");
  EXPECT_EQ(stats["total"], CountsOf(3, 0, 0, 0));
  EXPECT_EQ(routed({"queues"}).out,
            "DOMAIN     TYPE   READY  BACKEND\n"
            "(default)  email      1  mail\n"
            "(default)  null       1  main\n"
            "wiki2      null       1  main\n");
  json listed = json::parse(routed({"list"}, true).out);
  EXPECT_EQ(listed["jobs"].size(), 3u);
  // Each backend is a store of its own: the email job is in mail-store only.
  store_ = dir_ + "/mail-store";
  EXPECT_EQ(Counts("email"), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Counts("null"), json::object());
  // One run drains both backends.
  Output run = routed({"run", "--exec", "email=cat >/dev/null"}, true);
  ASSERT_EQ(run.status, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["reason"], "none-ready");
  EXPECT_EQ(report["succeeded"], 3);
  EXPECT_EQ(json::parse(routed({"stats"}, true).out)["total"], CountsOf(0, 0, 0, 0));
  EXPECT_EQ(json::parse(routed({"check"}, true).out), J(R"({"ok":true,"violations":[]})"));
}

TEST_F(cli, ABadConfigFailsAtStartNamingTheFileAndTheKey) {
  Invocation inv;
  inv.args = {"--config", dir_ + "/absent.json", "stats"};
  EXPECT_FAILS(RunBinary(JOBSTORE_CLI, inv), 2, "cannot read config '" + dir_ + "/absent.json'");
  const std::string config = dir_ + "/jobs.json";
  { std::ofstream(config) << R"({"backends": {"main": "./s"}, "types": {"default": "mian"}})"; }
  inv.args = {"--config", config, "stats"};
  EXPECT_FAILS(RunBinary(JOBSTORE_CLI, inv), 2,
               "config '" + config + "': types.default names backend 'mian', which is not in "
               "\"backends\" (main)");
  inv.args = {"stats"};
  inv.env["JOBSTORE_CONFIG"] = config;
  EXPECT_FAILS(RunBinary(JOBSTORE_CLI, inv), 2, "types.default names backend 'mian'");
  inv.args = {"--config", config, "--store", store_, "stats"};
  inv.env.clear();
  EXPECT_FAILS(RunBinary(JOBSTORE_CLI, inv), 2, "--store and --config both name the store");
}

TEST_F(cli, AnUnknownAddressSchemeIsBadUsage) {
  Invocation inv;
  inv.args = {"--store", "reddis://localhost:6379/0", "stats"};
  Output o = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_NE(o.err.find("unknown store address scheme 'reddis:'"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists("reddis:"));
}

// --- a store held by another process -----------------------------------------------------------

TEST_F(cli, HeldStoreRefusesWritesButServesReads) {
  Init();
  Ok({"push", "email", R"({"n":1})"});
  Ok({"push", "email", R"({"n":2})", "--delay", "60"});
  // This test process holds the store, like a running worker would.
  auto held = Store::Open(store_, Options{});
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  std::string in_use = "is in use by process " + std::to_string(getpid());
  for (std::vector<std::string> args :
       {std::vector<std::string>{"push", "email", "{}"}, {"claim", "email"}, {"maintain"},
        {"ack", "email", "1", "00000000000000000000000000000000"}, {"clear", "email"},
        {"config", "email", "--max-tries", "9"}, {"import"}, {"run"}}) {
    EXPECT_FAILS(Run(args), 1, in_use);
  }
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(1, 0, 1, 0));
  EXPECT_EQ(RunJson({"list"})["jobs"].size(), 2u);
  EXPECT_EQ(RunJson({"queues"})["queues"].size(), 1u);
  EXPECT_EQ(RunJson({"check"}), J(R"({"ok":true,"violations":[]})"));
  EXPECT_EQ(Lines(Ok({"export"})).size(), 3u);  // the type's settings, two jobs
  EXPECT_EQ(RunJson({"config", "email"})["max_tries"], 3);
  // Writes made by the holder are seen by the next read.
  JobSpec spec;
  spec.type = "email";
  spec.params = "{}";
  ASSERT_TRUE((*held)->Push({spec}).ok());
  EXPECT_EQ(RunJson({"stats"})["total"], CountsOf(2, 0, 1, 0));
  held->reset();
  EXPECT_EQ(Ok({"push", "email", "{}"}), "4\n");
}

// --- run ---------------------------------------------------------------------------------------

TEST_F(cli, RunNullJobsWithLimits) {
  Init();
  Ok({"push", "null", "{}"});
  Ok({"push", "null", "{}"});
  Ok({"push", "null", R"({"fail":"boom","allow_retries":false})"});
  json report = RunJson({"run", "--max-jobs", "2"});
  EXPECT_EQ(report["reason"], "job-limit");
  EXPECT_EQ(report["jobs"], 2);
  EXPECT_EQ(report["succeeded"], 2);
  ASSERT_EQ(report["results"].size(), 2u);
  std::set<int> ids = {report["results"][0]["id"].get<int>(), report["results"][1]["id"].get<int>()};
  EXPECT_EQ(ids, (std::set<int>{1, 2}));
  EXPECT_EQ(report["results"][0]["ok"], true);

  Output o = Run({"run"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out.rfind("job 3 null: failed, final (the job does not allow retries; acked): boom "
                        "(attempt 1, ",
                        0),
            0u)
      << o.out;
  EXPECT_NE(o.out.find("\nstopped: none-ready after 1 job (0 succeeded, 1 failed, 0 superseded) in "),
            std::string::npos) << o.out;
  EXPECT_EQ(Counts("null"), CountsOf(0, 0, 0, 0));
}

TEST_F(cli, RunExecCommandsGetParamsOnStdin) {
  Init();
  std::string out = dir_ + "/sent-";
  Ok({"push", "email", R"({"to":"ann"})"});
  Ok({"push", "email", R"({"to":"bob"})", "--domain", "wiki2"});
  Ok({"push", "broken", "{}"});
  Output o = Run({"--json", "run", "--exec",
                  "email=f=" + out + "$JOBSTORE_JOB_ID; cat > $f; echo \" $JOBSTORE_ATTEMPT $JOBSTORE_JOB_DOMAIN\" >> $f",
                  "--exec", "broken=echo disk full >&2; exit 3", "--workers", "2"});
  ASSERT_EQ(o.status, 0) << o.err;
  json report = json::parse(o.out);
  EXPECT_EQ(report["reason"], "none-ready");
  EXPECT_EQ(report["succeeded"], 2);
  EXPECT_EQ(report["failed"], 1);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read(out + "1"), "{\"to\":\"ann\"} 1 \n");
  EXPECT_EQ(read(out + "2"), "{\"to\":\"bob\"} 1 wiki2\n");
  // The failure was released for a retry later (backoff), with the command's stderr.
  json broken = RunJson({"list", "--type", "broken"})["jobs"][0];
  EXPECT_EQ(broken["attempts"], 1);
  EXPECT_EQ(broken["state"], "delayed");
  EXPECT_NE(broken["last_error"].get<std::string>().find("disk full"), std::string::npos);
}

TEST_F(cli, RunSaysWhatTheStoreDidWithEachFailure) {
  Init();
  Ok({"config", "once", "--max-tries", "1"});
  Ok({"config", "never", "--retries", "no"});
  Ok({"push", "once", "{}"});
  Ok({"push", "never", "{}"});
  Ok({"push", "again", "{}"});
  Output o = Run({"run", "--exec", "once=exit 3", "--exec", "never=exit 4", "--exec",
                  "again=echo flaky >&2; exit 5"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("job 1 once: failed, abandoned: attempts used up (1 of 1): exit status 3"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("job 2 never: failed, abandoned: retries are off for type 'never': exit "
                       "status 4"),
            std::string::npos)
      << o.out;
  // The first retry comes after a backoff of 0.5 to 1 s: "now" at the pinned clock's second.
  EXPECT_NE(o.out.find("job 3 again: failed, retry now: exit status 5: flaky"), std::string::npos)
      << o.out;
  EXPECT_EQ(o.out.find("released for a retry"), std::string::npos) << o.out;
  json report = RunJson({"run", "--exec", "again=exit 5"}, "", kNow + 5'000);
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["outcome"]["state"], "delayed");
  EXPECT_GT(report["results"][0]["outcome"]["release_at_ms"].get<int64_t>(), kNow + 5'000);
  EXPECT_EQ(Counts("once"), CountsOf(0, 0, 0, 1));
  EXPECT_EQ(Counts("never"), CountsOf(0, 0, 0, 1));
}

TEST_F(cli, RunShowsOrLogsWhatCommandsPrint) {
  Init();
  Ok({"push", "report", R"({"n":1})"});
  Ok({"push", "report", R"({"n":2})"});
  Output shown = Run({"run", "--exec", "report=echo out $JOBSTORE_JOB_ID; echo err >&2"});
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_NE(shown.out.find("job 1 | out 1\n"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("job 1 | err\n"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("job 2 | out 2\n"), std::string::npos) << shown.out;
  // With --json the report alone is on stdout; the output goes to stderr.
  Ok({"push", "report", "{}"});
  Output json_run = Run({"--json", "run", "--exec", "report=echo quiet"});
  ASSERT_EQ(json_run.status, 0);
  EXPECT_EQ(json::parse(json_run.out)["succeeded"], 1);
  EXPECT_NE(json_run.err.find("job 3 | quiet"), std::string::npos) << json_run.err;
  // --log DIR: one private file a run, cut at --output-max.
  Ok({"push", "report", "{}"});
  Output logged = Run({"run", "--log", dir_ + "/logs", "--output-max", "10", "--exec",
                       "report=printf 0123456789abcdef"});
  ASSERT_EQ(logged.status, 0) << logged.err;
  EXPECT_EQ(logged.out.find("job 4 |"), std::string::npos) << logged.out;
  const std::string log = dir_ + "/logs/report.4.1.log";
  EXPECT_EQ(ReadAll(log), "0123456789[6 more bytes not kept]\n");
  EXPECT_EQ(static_cast<unsigned>(fs::status(log).permissions()) & 0777, 0600u);
}

// Waits until `fd` is readable or `pid_fd` (a pidfd) says its process ended; true if `fd` is.
// The bound is only a backstop so that a broken runner fails the test instead of hanging CI;
// nothing here waits for time to pass.
bool ReadableBeforeExit(int fd, int pid_fd) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {pid_fd, POLLIN, 0}};
  while (true) {
    const int n = ::poll(fds, 2, 120'000);
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (fds[0].revents & POLLIN) != 0;
  }
}

// A runner killed with SIGKILL takes its command, and what the command started, with it: they
// do not go on running under pid 1.
TEST_F(cli, ACommandDiesWithItsRunner) {
  Init();
  Ok({"push", "slow", "{}"});
  const std::string fifo = dir_ + "/started";
  const std::string runner_log = dir_ + "/runner.log";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Read and write: opening never blocks on a writer, and the runner's end cannot EOF it.
  const int started = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(started, 0);
  // This process adopts whatever the runner leaves behind, so it can see it end (waitpid).
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const pid_t runner = ::fork();
  ASSERT_GE(runner, 0);
  if (runner == 0) {
    const std::string command =
        "slow=sleep 100000 & echo $$ $! > " + fifo + "; wait";
    const int log = ::open(runner_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int null = ::open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0) ::_exit(126);
    ::dup2(null, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::setenv("JOBSTORE_TEST_NOW_MS", std::to_string(kNow).c_str(), 1);
    ::execl(JOBSTORE_CLI, JOBSTORE_CLI, "--store", store_.c_str(), "run", "--exec",
            command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const int runner_fd = static_cast<int>(::syscall(SYS_pidfd_open, runner, 0));
  ASSERT_GE(runner_fd, 0);
  // The command says it started, and who it is: the shell and its background sleep. Should the
  // runner end first, its output says why.
  ASSERT_TRUE(ReadableBeforeExit(started, runner_fd)) << "the runner ended or stalled before "
                                                         "its command started: "
                                                      << ReadAll(runner_log);
  char line[64] = {};
  ASSERT_GT(::read(started, line, sizeof line - 1), 0);
  pid_t shell = 0, sleeper = 0;
  ASSERT_EQ(std::sscanf(line, "%d %d", &shell, &sleeper), 2) << line;
  ::close(started);
  const int shell_fd = static_cast<int>(::syscall(SYS_pidfd_open, shell, 0));
  const int sleeper_fd = static_cast<int>(::syscall(SYS_pidfd_open, sleeper, 0));
  ASSERT_GE(shell_fd, 0);
  ASSERT_GE(sleeper_fd, 0);
  ASSERT_EQ(::kill(runner, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(runner, &status, 0), runner);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // Both end now. Were they left running, the sleep would go on for 100,000 s: the backstop
  // fails the test instead (and kills them), so CI never hangs on it.
  for (const int fd : {shell_fd, sleeper_fd}) {
    pollfd ended = {fd, POLLIN, 0};
    const bool gone = ::poll(&ended, 1, 120'000) == 1;
    EXPECT_TRUE(gone) << "the command outlived its runner";
    if (!gone) ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  }
  // Reap every adopted child until both were seen.
  bool shell_gone = false, sleeper_gone = false;
  while (!(shell_gone && sleeper_gone)) {
    const pid_t done = ::waitpid(-1, &status, 0);
    ASSERT_GT(done, 0) << "lost track of the command's processes";
    shell_gone = shell_gone || done == shell;
    sleeper_gone = sleeper_gone || done == sleeper;
  }
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  for (const int fd : {runner_fd, shell_fd, sleeper_fd}) ::close(fd);
  // The job was in hand: it is still claimed, to be reclaimed when its lease ends: the runner's
  // 60 s lease (run --lease), not the type's hour. No heartbeat renews it now.
  EXPECT_EQ(Counts("slow"), CountsOf(0, 1, 0, 0));
  Ok({"maintain"}, "", kNow + 59'000);
  EXPECT_EQ(Counts("slow"), CountsOf(0, 1, 0, 0));
  Ok({"maintain"}, "", kNow + 60'001);
  EXPECT_EQ(Counts("slow"), CountsOf(1, 0, 0, 0));
}

TEST_F(cli, RunSaysWhichReadyTypesHaveNoCommand) {
  Init();
  Ok({"push", "email", "{}"});
  Output o = Run({"run"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out.rfind("stopped: none-ready after 0 jobs", 0), 0u) << o.out;
  EXPECT_EQ(o.err, "jobstore: 'email' jobs are ready but nothing runs them: give --exec email=COMMAND\n");
}

TEST_F(cli, RunRejectsBadOptions) {
  Init();
  EXPECT_FAILS(Run({"run", "--type", "email"}), 2, "--type email: nothing can run it; give --exec email=COMMAND");
  EXPECT_FAILS(Run({"run", "--exec", "email"}), 2, "--exec: 'email' is not TYPE=COMMAND");
  EXPECT_FAILS(Run({"run", "--exec", "a=x", "--exec", "a=y"}), 2, "--exec: type 'a' is given twice");
  EXPECT_FAILS(Run({"run", "--max-jobs", "0"}), 2, "--max-jobs: '0'");
  EXPECT_FAILS(Run({"run", "--workers", "many"}), 2, "--workers: 'many'");
  EXPECT_FAILS(Run({"run", "--max-time", "1y"}), 2, "--max-time: '1y'");
  EXPECT_FAILS(Run({"run", "--claim-batch", "0"}), 2, "--claim-batch: '0'");
  EXPECT_FAILS(Run({"run", "--claim-batch", "10001"}), 2, "--claim-batch: '10001'");
}

TEST_F(cli, RunClaimsInBatches) {
  Init();
  for (int i = 0; i < 7; ++i) Ok({"push", "null", "{}"});
  json report = RunJson({"run", "--claim-batch", "3", "--max-jobs", "5"});
  EXPECT_EQ(report["reason"], "job-limit");
  EXPECT_EQ(report["succeeded"], 5);
  EXPECT_EQ(Counts("null"), CountsOf(2, 0, 0, 0));
  report = RunJson({"run", "--claim-batch", "3"});
  EXPECT_EQ(report["succeeded"], 2);
  EXPECT_EQ(Counts("null"), CountsOf(0, 0, 0, 0));
}

// --- usage ---------------------------------------------------------------------------------------

TEST_F(cli, EveryCommandHasHelpWithExamples) {
  for (const char* cmd : {"init", "push", "claim", "ack", "release", "touch", "stats", "list",
                          "queues", "run", "maintain", "config", "repush-abandoned", "clear",
                          "check", "export", "import", "checkpoint"}) {
    Output o = Run({cmd, "--help"});
    EXPECT_EQ(o.status, 0) << cmd;
    EXPECT_NE(o.out.find("Examples:\n  jobstore "), std::string::npos) << cmd << ": " << o.out;
  }
  Output o = Run({"--help"});
  EXPECT_EQ(o.status, 0);
  EXPECT_NE(o.out.find("repush-abandoned"), std::string::npos);
}

TEST_F(cli, BadUsageExitsWithStatus2) {
  Output o = Run({});
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.err.find("jobstore: name a command"), std::string::npos);
  EXPECT_FAILS(Run({"frobnicate"}), 2, "'frobnicate' is not a command\nRun 'jobstore --help'");
  EXPECT_FAILS(Run({"push"}), 2, "TYPE is required\nRun 'jobstore push --help' for usage.");
  EXPECT_FAILS(Run({"stats", "--colour"}), 2, "--colour");
  EXPECT_FAILS(Run({"push", "a", "{}", "extra"}), 2, "extra");
}

TEST_F(cli, AMistypedCommandSuggestsTheNearest) {
  EXPECT_FAILS(Run({"pushh", "email", "{}"}), 2, "'pushh' is not a command; did you mean 'push'?");
  EXPECT_FAILS(Run({"stat"}), 2, "did you mean 'stats'?");
  EXPECT_FAILS(Run({"lsit"}), 2, "did you mean 'list'?");
  EXPECT_FAILS(Run({"--json", "chekc"}), 2, "did you mean 'check'?");
  Output far = Run({"xyzzy"});
  EXPECT_EQ(far.status, 2);
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

TEST_F(cli, VersionCompletionAndManPage) {
  Invocation inv;
  inv.args = {"--version"};
  Output v = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out, std::string("jobstore ") + JOBSTORE_VERSION + "\n");
  inv.args = {"completion", "bash"};
  Output c = RunBinary(JOBSTORE_CLI, inv);
  ASSERT_EQ(c.status, 0) << c.err;
  for (const std::string word : {"complete -o default -F _jobstore jobstore", " push ", " run ",
                                 "--exec", "--max-jobs", "--store"}) {
    EXPECT_NE(c.out.find(word), std::string::npos) << word;
  }
  // It is bash that parses.
  { std::ofstream(dir_ + "/completion.bash") << c.out; }
  EXPECT_EQ(std::system(("bash -n " + dir_ + "/completion.bash").c_str()), 0);
  inv.args = {"completion", "fish"};
  EXPECT_FAILS(RunBinary(JOBSTORE_CLI, inv), 2, "only bash is supported");
  inv.args = {"manpage"};
  Output m = RunBinary(JOBSTORE_CLI, inv);
  ASSERT_EQ(m.status, 0) << m.err;
  EXPECT_EQ(m.out.rfind(".TH JOBSTORE 1", 0), 0u);
  for (const std::string section : {".SH SYNOPSIS", ".SH COMMANDS", ".SS push", ".SS run",
                                    ".SH EXIT STATUS", "JOBSTORE_PROGRESS"}) {
    EXPECT_NE(m.out.find(section), std::string::npos) << section;
  }
}

TEST_F(cli, GlobalOptionsWorkAfterTheCommand) {
  Init();
  Ok({"push", "email", "{}"});
  Invocation inv;
  inv.args = {"stats", "--json", "--store", store_};
  EXPECT_EQ(json::parse(RunBinary(JOBSTORE_CLI, inv).out)["total"]["ready"], 1);
}

TEST_F(cli, BadPinnedClockIsBadInput) {
  Invocation inv;
  inv.args = {"--store", store_, "init"};
  inv.env["JOBSTORE_TEST_NOW_MS"] = "yesterday";
  Output o = RunBinary(JOBSTORE_CLI, inv);
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.err.find("$JOBSTORE_TEST_NOW_MS: 'yesterday'"), std::string::npos);
}

// --- metrics and --http -----------------------------------------------------------------------

TEST_F(cli, MetricsPrintsTheStoresGaugesInPrometheusText) {
  Init();
  Ok({"push", "email", "{}"});
  Ok({"push", "email", "{\"n\":2}"});
  const std::string text = Ok({"metrics"}, "", kNow + 90'000);
  EXPECT_NE(text.find("# TYPE jobstore_queue_jobs gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\njobstore_queue_jobs{domain=\"\",type=\"email\",state=\"ready\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("\njobstore_queue_oldest_ready_age_seconds{domain=\"\",type=\"email\"} 90\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("\njobstore_store_size_bytes "), std::string::npos);
  EXPECT_NE(text.find("jobstore_build_info{version=\""), std::string::npos);
  // No counters from a process that did nothing: the working one serves them (--http).
  EXPECT_EQ(text.find("_total"), std::string::npos) << text;
}

TEST_F(cli, RunServesHttpWhileItRunsAndChecksItsOptions) {
  Init();
  Ok({"push", "null", "{}"});
  Output o = Run({"run", "--http", "127.0.0.1:0"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.err.find("jobstore: status page at http://127.0.0.1:"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("(read-only page)"), std::string::npos) << o.err;
  EXPECT_EQ(Counts("null"), CountsOf(0, 0, 0, 0));  // it ran

  EXPECT_FAILS(Run({"run", "--http-token-file", dir_ + "/t"}), 2, "--http-token-file needs --http ADDR");
  EXPECT_FAILS(Run({"run", "--http", "nonsense"}), 2, "is not HOST:PORT or PORT");
  EXPECT_FAILS(Run({"run", "--http", "0", "--http-token-file", dir_ + "/absent"}), 1,
               "cannot read");
  std::ofstream(dir_ + "/short") << "abc\n";
  EXPECT_FAILS(Run({"run", "--http", "0", "--http-token-file", dir_ + "/short"}), 2,
               "at least 16");
  std::ofstream(dir_ + "/token") << "0123456789abcdef0123\n";
  Output with_token = Run({"run", "--http", "0", "--http-token-file", dir_ + "/token"});
  EXPECT_EQ(with_token.status, 0) << with_token.err;
  EXPECT_EQ(with_token.err.find("read-only page"), std::string::npos) << with_token.err;
  EXPECT_EQ(with_token.err.find("0123456789abcdef0123"), std::string::npos);  // never printed
}

}  // namespace
}  // namespace jobstore::clitest
