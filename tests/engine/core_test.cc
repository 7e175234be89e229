// The core's values: Status and Result (errors that cannot pass silently), names made printable,
// claim tokens as text, and store addresses.
#include <gtest/gtest.h>

#include "jobstore/address.h"
#include "jobstore/status.h"
#include "jobstore/store.h"
#include "jobstore/types.h"
#include "jobstore/validation.h"

namespace jobstore::testing {
namespace {

TEST(StatusTest, CodesNameThemselvesAndKeepTheHolderPid) {
  EXPECT_EQ(Status::OK().ToString(), "OK");
  EXPECT_EQ(Status::Unavailable("redis is down").ToString(), "unavailable: redis is down");
  EXPECT_TRUE(Status::Unavailable("x").IsTransient());
  EXPECT_TRUE(Status::DeadlineExceeded("x").IsTransient());
  EXPECT_FALSE(Status::IOError("x").IsTransient());
  EXPECT_EQ(Status::DeadlineExceeded("slow").ToString(), "deadline exceeded: slow");
  Status busy = Status::Busy("held", 4242);
  EXPECT_TRUE(busy.IsBusy());
  EXPECT_EQ(busy.holder_pid(), 4242);
  EXPECT_EQ(Status::Busy("held").holder_pid(), 0);
  EXPECT_EQ(busy.Prefixed("open 'x'").ToString(), "busy: open 'x': held");
  EXPECT_EQ(busy.Prefixed("open 'x'").holder_pid(), 4242);
  EXPECT_TRUE(Status::OK().Prefixed("anything").ok());
}

TEST(ResultTest, AnOkStatusWithoutAValueIsAnError) {
  Result<int> r = Status::OK();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInternal()) << r.status().ToString();
}

TEST(ResultTest, ValueOfAnErrorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = Status::NotFound("no job 7");
  EXPECT_DEATH((void)r.value(), "value\\(\\) of a failed Result \\(not found: no job 7\\)");
  EXPECT_DEATH((void)*r, "no job 7");
  Result<std::string> s = Status::IOError("disk");
  EXPECT_DEATH((void)s->size(), "disk");
}

TEST(ResultTest, ValuesMoveOut) {
  Result<std::string> r = std::string("payload");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 7u);
  std::string out = std::move(r).value();
  EXPECT_EQ(out, "payload");
}

TEST(Printable, EscapesUnprintableBytesAndCuts) {
  EXPECT_EQ(Printable("plain-name.1", 80), "plain-name.1");
  EXPECT_EQ(Printable(std::string("a\x01" "b\xff\n", 5), 80), "a\\x01b\\xff\\x0a");
  EXPECT_EQ(Printable(std::string(1, '\0'), 80), "\\x00");
  EXPECT_EQ(Printable("abcdef", 3), "abc...");
  EXPECT_EQ(Printable("abc", 3), "abc");
}

TEST(ClaimTokenTest, RoundTripsThroughText) {
  ClaimToken t{1234567890123, 0xdeadbeefcafef00dULL};
  auto back = ClaimToken::Parse(t.ToString());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, t);
  EXPECT_EQ(t.ToString().size(), 32u);
  EXPECT_TRUE(ClaimToken::Parse("xyz").status().IsInvalidArgument());
  EXPECT_TRUE(ClaimToken::Parse(std::string(32, 'g')).status().IsInvalidArgument());
}

TEST(AddressTest, EachSchemeNamesItsMedium) {
  struct Case {
    std::string text;
    Address::Scheme scheme;
    std::string rest;
  };
  const Case cases[] = {
      {"jobs", Address::Scheme::kRocksDb, "jobs"},
      {"./a:b", Address::Scheme::kRocksDb, "./a:b"},
      {"/var/lib/jobs", Address::Scheme::kRocksDb, "/var/lib/jobs"},
      {"memory:", Address::Scheme::kMemory, ""},
      {"memory:cache", Address::Scheme::kMemory, "cache"},
      {"unix:/run/jobs.sock", Address::Scheme::kUnix, "/run/jobs.sock"},
      {"tcp:10.0.0.1:7000", Address::Scheme::kTcp, "10.0.0.1:7000"},
      {"redis://127.0.0.1:6379/0?prefix=p", Address::Scheme::kRedis, "127.0.0.1:6379/0?prefix=p"},
      {"redis+unix:/tmp/r.sock?db=1", Address::Scheme::kRedisUnix, "/tmp/r.sock?db=1"},
      {"sqlite:/tmp/jobs.db", Address::Scheme::kSqlite, "/tmp/jobs.db"},
      {"postgresql://app@/jobs?host=/tmp", Address::Scheme::kPostgres,
       "postgresql://app@/jobs?host=/tmp"},
      {"postgres://app@/jobs", Address::Scheme::kPostgres, "postgres://app@/jobs"},
      {"postgresql:host=/tmp dbname=jobs", Address::Scheme::kPostgres, "host=/tmp dbname=jobs"},
  };
  for (const Case& c : cases) {
    auto a = Address::Parse(c.text);
    ASSERT_TRUE(a.ok()) << c.text << ": " << a.status().ToString();
    EXPECT_EQ(a->scheme, c.scheme) << c.text;
    EXPECT_EQ(a->rest, c.rest) << c.text;
  }
}

TEST(AddressTest, UnknownSchemesAndEmptyAddressesAreRefused) {
  auto typo = Address::Parse("reddis://localhost/0");
  EXPECT_TRUE(typo.status().IsNotSupported()) << typo.status().ToString();
  EXPECT_NE(typo.status().message().find("unknown store address scheme 'reddis:'"),
            std::string::npos);
  EXPECT_NE(typo.status().message().find("./reddis://localhost/0"), std::string::npos);
  EXPECT_TRUE(Address::Parse("").status().IsInvalidArgument());
}

TEST(AddressTest, PasswordsAreRedacted) {
  EXPECT_EQ(Redacted("redis://:s3cret@host:6379/0"), "redis://:***@host:6379/0");
  EXPECT_EQ(Redacted("postgresql://app:pw@db/jobs"), "postgresql://app:***@db/jobs");
  EXPECT_EQ(Redacted("postgresql:host=/tmp password=pw dbname=j"),
            "postgresql:host=/tmp password=*** dbname=j");
  EXPECT_EQ(Redacted("redis+unix:/tmp/r.sock?db=1&password=pw"),
            "redis+unix:/tmp/r.sock?db=1&password=***");
  EXPECT_EQ(Redacted("/var/lib/jobs"), "/var/lib/jobs");
}

TEST(StoreOpenByAddress, AnUnknownSchemeOpensNothing) {
  auto typo = Store::Open("sqllite:/tmp/jobs.db");
  EXPECT_TRUE(typo.status().IsNotSupported()) << typo.status().ToString();
  EXPECT_NE(typo.status().message().find("'sqllite:'"), std::string::npos);
  auto empty = Store::Open("");
  EXPECT_TRUE(empty.status().IsInvalidArgument()) << empty.status().ToString();
}

TEST(StoreOpenByAddress, MemoryAddressesOpenAnEmptyStoreEachTime) {
  auto a = Store::Open("memory:queue-a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->capabilities().medium, "memory");
  EXPECT_EQ((*a)->capabilities().push_durability, Capabilities::Durability::kNothing);
  EXPECT_NE((*a)->capabilities().note.find("queue-a"), std::string::npos);
  JobSpec spec;
  spec.type = "purge";
  ASSERT_TRUE((*a)->Push({spec}).ok());
  auto b = Store::Open("memory:queue-a");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->Counts({"", "purge"})->ready, 0u);
  EXPECT_EQ((*a)->Counts({"", "purge"})->ready, 1u);
}

}  // namespace
}  // namespace jobstore::testing
