// The routing config: what parses, and that every mistake names the file, the key and the fix.
#include <gtest/gtest.h>

#include <fstream>

#include "jobstore/config.h"
#include "support/temp_dir.h"

namespace jobstore::testing {
namespace {

Status ParseError(const std::string& text) {
  auto c = StoreConfig::Parse(text, "/etc/jobs.json");
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? Status::OK() : c.status();
}

void ExpectRefused(const std::string& text, const std::string& fragment) {
  Status s = ParseError(text);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("config '/etc/jobs.json'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.ToString();
}

TEST(ConfigTest, MapsTypesToBackendsWithADefault) {
  auto c = StoreConfig::Parse(
      R"({"backends": {"local": "./data", "fast": "memory:", "abs": "/var/lib/jobs"},
          "types": {"default": "local", "purge": "fast", "email": "abs"}})",
      "/etc/jobstore/jobs.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  // Relative paths are the config's own directory's.
  EXPECT_EQ(c->backends.at("local"), "/etc/jobstore/data");
  EXPECT_EQ(c->backends.at("fast"), "memory:");
  EXPECT_EQ(c->backends.at("abs"), "/var/lib/jobs");
  EXPECT_EQ(c->BackendOf("purge"), "fast");
  EXPECT_EQ(c->BackendOf("email"), "abs");
  EXPECT_EQ(c->BackendOf("anything-else"), "local");
}

TEST(ConfigTest, EveryMistakeIsNamed) {
  ExpectRefused("{", "not JSON");
  ExpectRefused("[1, 2]", "not a JSON object");
  ExpectRefused(R"({"types": {"default": "a"}})", R"("backends" must be an object)");
  ExpectRefused(R"({"backends": {}, "types": {"default": "a"}})", R"("backends" must be)");
  ExpectRefused(R"({"backends": {"a": 7}, "types": {"default": "a"}})",
                "backends.a must be an address string");
  ExpectRefused(R"({"backends": {"a": "reddis://x/0"}, "types": {"default": "a"}})",
                "backends.a: unknown store address scheme 'reddis:'");
  ExpectRefused(R"({"backends": {"a": "memory:"}})", R"("types" must be an object)");
  ExpectRefused(R"({"backends": {"a": "memory:"}, "types": {"email": "a"}})",
                R"(has no "default")");
  ExpectRefused(R"({"backends": {"a": "memory:"}, "types": {"default": "b"}})",
                "types.default names backend 'b', which is not in \"backends\" (a)");
  ExpectRefused(R"({"backends": {"a": "memory:"}, "types": {"default": "a", "bad type": "a"}})",
                "types: job type 'bad type' has a forbidden character");
  ExpectRefused(
      R"({"backends": {"a": "memory:", "b": "memory:"},
          "types": {"default": "a", "email": "a", "email": "b"}})",
      "the key 'email' appears twice");
  ExpectRefused(R"({"backends": {"a": "./x", "b": "./x"}, "types": {"default": "a"}})",
                "have the same address");
  ExpectRefused(R"({"backend": {"a": "memory:"}, "types": {"default": "a"}})",
                "unknown key 'backend'");
}

TEST(ConfigTest, AnUnreadableFileIsNamed) {
  auto c = StoreConfig::Load("/nonexistent/jobs.json");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_NE(c.status().message().find("cannot read config '/nonexistent/jobs.json'"),
            std::string::npos)
      << c.status().ToString();
  TempDir dir;
  { std::ofstream(dir.Sub("jobs.json")) << R"({"backends": {"m": "memory:"}, "types": {"default": "m"}})"; }
  auto loaded = StoreConfig::Load(dir.Sub("jobs.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->origin, dir.Sub("jobs.json"));
}

TEST(ConfigTest, OpeningABackendThatFailsNamesIt) {
  TempDir dir;
  { std::ofstream(dir.Sub("not-a-store")) << "a file"; }
  auto c = StoreConfig::Parse(R"({"backends": {"m": "memory:", "broken": "./not-a-store"},
                                  "types": {"default": "m", "x": "broken"}})",
                              dir.Sub("jobs.json"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto store = OpenConfig(*c);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("backend 'broken'"), std::string::npos)
      << store.status().ToString();
  EXPECT_NE(store.status().message().find("is not a directory"), std::string::npos)
      << store.status().ToString();
}

}  // namespace
}  // namespace jobstore::testing
