// Redis store addresses: every part parsed, every mistake named, no password ever shown.
#include <gtest/gtest.h>

#include <fstream>

#include "jobstore/store.h"
#include "redis_address.h"
#include "support/temp_dir.h"

namespace jobstore::testing {
namespace {

Result<redis::Endpoint> Parse(const std::string& text) {
  auto a = Address::Parse(text);
  if (!a.ok()) return a.status();
  return redis::ParseEndpoint(*a);
}

TEST(RedisAddress, TcpWithEveryPart) {
  auto e = Parse("redis://jobs:s3cret@db.example.org:6380/2?prefix=farm.a&timeout_ms=250");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->host, "db.example.org");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_EQ(e->user, "jobs");
  EXPECT_EQ(e->password, "s3cret");
  EXPECT_EQ(e->prefix, "farm.a");
  EXPECT_EQ(e->timeout_ms, 250);
  EXPECT_TRUE(e->unix_path.empty());
  EXPECT_EQ(e->Where(), "db.example.org:6380");
  EXPECT_EQ(e->display.find("s3cret"), std::string::npos) << e->display;
}

TEST(RedisAddress, Defaults) {
  auto e = Parse("redis://127.0.0.1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
  EXPECT_EQ(e->prefix, "jobstore");
  EXPECT_EQ(e->timeout_ms, 5000);
  EXPECT_TRUE(e->password.empty());
}

TEST(RedisAddress, UnixSocketWithDbAndPrefix) {
  auto e = Parse("redis+unix:/run/redis/redis.sock?db=3&prefix=p1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(e->db, 3);
  EXPECT_EQ(e->prefix, "p1");
  EXPECT_EQ(e->Where(), "unix:/run/redis/redis.sock");
}

TEST(RedisAddress, IPv6AndPercentEscapes) {
  auto e = Parse("redis://:p%40ss%3Aword@[::1]:7000/1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->password, "p@ss:word");
  EXPECT_TRUE(e->user.empty());
}

TEST(RedisAddress, PasswordFromAFile) {
  TempDir dir;
  const std::string file = dir.Sub("pw");
  std::ofstream(file) << "from-the-file\n";
  auto e = Parse("redis+unix:/tmp/r.sock?password_file=" + file);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->password, "from-the-file");
  // The address shows the file, which is not a secret, and not the password.
  EXPECT_NE(e->display.find(file), std::string::npos);

  auto missing = Parse("redis+unix:/tmp/r.sock?password_file=" + dir.Sub("none"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalidArgument());
  EXPECT_NE(missing.status().message().find("cannot read password_file"), std::string::npos);

  std::ofstream(dir.Sub("empty")) << "";
  auto empty = Parse("redis+unix:/tmp/r.sock?password_file=" + dir.Sub("empty"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
}

TEST(RedisAddress, MistakesAreNamedAndNeverShowThePassword) {
  struct Case {
    const char* address;
    const char* says;
  };
  const Case cases[] = {
      {"redis://:hunter2@host:0/0", "port '0'"},
      {"redis://:hunter2@host:99999/0", "port '99999'"},
      {"redis://:hunter2@host:6379/x", "database 'x'"},
      {"redis://:hunter2@host:6379/0?prefix=a{b}", "prefix 'a{b}'"},
      {"redis://:hunter2@host:6379/0?prefix=", "prefix ''"},
      {"redis://:hunter2@host:6379/0?colour=red", "unknown parameter 'colour'"},
      {"redis://:hunter2@host:6379/0?prefix", "has no value"},
      {"redis://:hunter2@host:6379/0?db=1", "as /DB"},
      {"redis://:hunter2@host/0?timeout_ms=0", "timeout_ms '0'"},
      {"redis://:hunter2@host/0?password=again", "given twice"},
      {"redis://:hunter2@/0", "no host"},
      {"redis://hunter2@host/0", "without ':'"},
      {"redis+unix:", "no socket path"},
      {"redis+unix:/s?db=-1&password=hunter2", "db '-1'"},
      {"redis+unix:/s?user=u", "needs a password"},
      {"redis://:hunter2@host/0?prefix=%zz", "malformed %-escape"},
  };
  for (const Case& c : cases) {
    auto e = Parse(c.address);
    ASSERT_FALSE(e.ok()) << c.address;
    EXPECT_TRUE(e.status().IsInvalidArgument()) << c.address << ": " << e.status().ToString();
    EXPECT_NE(e.status().message().find(c.says), std::string::npos)
        << c.address << ": " << e.status().ToString();
    EXPECT_EQ(e.status().message().find("hunter2"), std::string::npos)
        << c.address << ": " << e.status().ToString();
    // Store::Open gives the same error.
    auto s = Store::Open(c.address);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos) << s.status().ToString();
  }
}

TEST(RedisAddress, AnUnreachableServerIsUnavailableAtOnce) {
  TempDir dir;
  auto s = Store::Open("redis+unix:" + dir.Sub("nobody.sock") + "?password=hunter2");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsUnavailable()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("cannot connect"), std::string::npos);
  EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos) << s.status().ToString();
}

}  // namespace
}  // namespace jobstore::testing
