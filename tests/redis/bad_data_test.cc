// Bad data in Redis (what another program, an operator or a bug wrote under the store's
// prefix): Check reports it, a claim or the next write moves it aside, and nothing crashes,
// hangs or trusts it.
#include "redis_fixture.h"

namespace jobstore::testing {
namespace {

class RedisBadDataTest : public RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    store_ = Open();
    ASSERT_TRUE(store_);
  }
  void TearDown() override {
    store_.reset();
    RedisTest::TearDown();
  }
  bool Reports(const std::string& needle) {
    for (const std::string& line : Violations(*store_)) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string Dump() {
    std::string out;
    for (const std::string& line : Violations(*store_)) out += line + "\n";
    return out;
  }
  const QueueRef q_{"", "t"};
  std::unique_ptr<Store> store_;
};

TEST_F(RedisBadDataTest, ARecordThatDoesNotDecodeIsMovedAsideByTheClaim) {
  auto ids = PushAll(*store_, {Spec("t", "one"), Spec("t", "two"), Spec("t", "three")});
  ASSERT_EQ(ids.size(), 3u);
  const std::string bad = std::to_string(ids[1]);
  EXPECT_EQ(Raw()->Cmd({"HSET", "{t}:q:/t:da", bad, "garbage"}).integer, 0);
  EXPECT_TRUE(Reports("job " + bad + " (ready): record of 7 bytes")) << Dump();

  auto jobs = ClaimN(*store_, q_, 3);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].params, "one");
  EXPECT_EQ(jobs[1].params, "three");
  EXPECT_EQ(CountsOf(*store_, q_), C(0, 2, 0, 1));
  auto info = store_->Inspect(q_, ids[1]);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, JobState::kAbandoned);
  EXPECT_TRUE(info->corrupt);
  EXPECT_TRUE(info->params.empty());
  EXPECT_NE(info->last_error.find("corrupt record"), std::string::npos) << info->last_error;
  // Still corrupt where it now sits: Check keeps saying so until someone deletes it.
  EXPECT_TRUE(Reports("job " + bad + " (abandoned)")) << Dump();
  auto listed = store_->List(q_, JobState::kAbandoned, "", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->jobs.size(), 1u);
  EXPECT_TRUE(listed->jobs[0].corrupt);
  ASSERT_TRUE(store_->DeleteJob(q_, ids[1]).ok());
  for (const auto& j : jobs) EXPECT_TRUE(store_->Ack(j.claim).ok());
  ExpectHealthy(*store_);
}

TEST_F(RedisBadDataTest, AMissingRecordIsMovedAsideAndCanBeDeleted) {
  auto ids = PushAll(*store_, {Spec("t", "one"), Spec("t", "two")});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(Raw()->Cmd({"HDEL", "{t}:q:/t:da", std::to_string(ids[0])}).integer, 1);
  EXPECT_TRUE(Reports("is ready but has no record")) << Dump();
  auto jobs = ClaimN(*store_, q_, 2);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "two");
  EXPECT_EQ(CountsOf(*store_, q_), C(0, 1, 0, 1));
  EXPECT_TRUE(Reports("is abandoned but has no record")) << Dump();
  ASSERT_TRUE(store_->DeleteJob(q_, ids[0]).ok());
  EXPECT_TRUE(store_->Ack(jobs[0].claim).ok());
  ExpectHealthy(*store_);
}

TEST_F(RedisBadDataTest, AKeyOfTheWrongTypeIsReportedThenMovedAsideByTheNextWrite) {
  EXPECT_EQ(Raw()->Cmd({"SET", "{t}:q:/t:rl", "not a list"}).str, "OK");
  EXPECT_EQ(Raw()->Cmd({"SADD", "{t}:queues", "/t"}).integer, 1);
  EXPECT_TRUE(Reports("key {t}:q:/t:rl holds a string, not a list")) << Dump();
  // A read cannot move it: it says what is wrong instead.
  auto counts = store_->Counts(q_);
  ASSERT_FALSE(counts.ok());
  EXPECT_TRUE(counts.status().IsCorruption()) << counts.status().ToString();
  EXPECT_NE(counts.status().message().find("{t}:q:/t:rl holds a string"), std::string::npos);
  // A write moves it aside and goes on.
  PushAll(*store_, {Spec("t", "after")});
  EXPECT_EQ(CountsOf(*store_, q_), C(1, 0, 0, 0));
  auto jobs = ClaimN(*store_, q_, 1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "after");
  EXPECT_TRUE(store_->Ack(jobs[0].claim).ok());
  EXPECT_EQ(Raw()->Cmd({"GET", "{t}:q:/t:rl:aside:1"}).str, "not a list");
  EXPECT_TRUE(Reports("moved aside: key {t}:q:/t:rl held a string")) << Dump();
  EXPECT_EQ(Raw()->Cmd({"DEL", "{t}:aside", "{t}:q:/t:rl:aside:1"}).integer, 2);
  ExpectHealthy(*store_);
}

TEST_F(RedisBadDataTest, ADataHashOfTheWrongTypeAbandonsTheJobsItHeld) {
  auto ids = PushAll(*store_, {Spec("t", "one"), Spec("t", "two")});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(Raw()->Cmd({"DEL", "{t}:q:/t:da"}).integer, 1);
  EXPECT_EQ(Raw()->Cmd({"RPUSH", "{t}:q:/t:da", "x"}).integer, 1);
  EXPECT_TRUE(Reports("key {t}:q:/t:da holds a list, not a hash")) << Dump();
  // Their records are gone: the claim moves both aside, hands out nothing.
  EXPECT_TRUE(ClaimN(*store_, q_, 5).empty());
  EXPECT_EQ(CountsOf(*store_, q_), C(0, 0, 0, 2));
  // New jobs work again.
  PushAll(*store_, {Spec("t", "three")});
  auto jobs = ClaimN(*store_, q_, 5);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "three");
  EXPECT_TRUE(store_->Ack(jobs[0].claim).ok());
  EXPECT_TRUE(Reports("moved aside: key {t}:q:/t:da held a list")) << Dump();
}

TEST_F(RedisBadDataTest, JunkInTheReadyListIsDroppedAndRecorded) {
  PushAll(*store_, {Spec("t", "one")});
  EXPECT_EQ(Raw()->Cmd({"LPUSH", "{t}:q:/t:rl", "not-an-id"}).integer, 2);
  EXPECT_TRUE(Reports("holds \"not-an-id\", not a job id")) << Dump();
  auto jobs = ClaimN(*store_, q_, 5);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "one");
  EXPECT_TRUE(store_->Ack(jobs[0].claim).ok());
  EXPECT_TRUE(Reports("not a job id; dropped from {t}:q:/t:rl")) << Dump();
}

TEST_F(RedisBadDataTest, SettingsThatDoNotParseAreCorruption) {
  EXPECT_EQ(Raw()->Cmd({"HSET", "{t}:types", "t", "claim_ttl_ms=soon"}).integer, 1);
  auto s = store_->GetTypeSettings("t");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("claim_ttl_ms=soon"), std::string::npos);
  EXPECT_TRUE(Reports("type 't' in {t}:types")) << Dump();
  // Setting them again repairs the type.
  ASSERT_TRUE(store_->SetTypeSettings("t", TypeSettings{}).ok());
  ExpectHealthy(*store_);
}

// A claimed job whose record is corrupted later: the token still proves the claim, so its
// holder's ack removes it; one whose claim expires instead is moved aside by maintenance.
TEST_F(RedisBadDataTest, AClaimedRecordCorruptedLaterIsAckedByItsHolderOrAbandonedAtExpiry) {
  auto ids = PushAll(*store_, {Spec("t", "one"), Spec("t", "two")});
  auto jobs = ClaimN(*store_, q_, 2, 1000);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(Raw()->Cmd({"HSET", "{t}:q:/t:da", std::to_string(ids[0]), "x"}).integer, 0);
  EXPECT_EQ(Raw()->Cmd({"HSET", "{t}:q:/t:da", std::to_string(ids[1]), "y"}).integer, 0);
  EXPECT_TRUE(store_->Ack(jobs[0].claim).ok());
  clock_->Advance(2000);
  auto r = store_->Maintain();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->abandoned, 1u);
  EXPECT_EQ(r->reclaimed, 0u);
  EXPECT_EQ(CountsOf(*store_, q_), C(0, 0, 0, 1));
  auto info = store_->Inspect(q_, ids[1]);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->corrupt);
  EXPECT_NE(info->last_error.find("corrupt record"), std::string::npos) << info->last_error;
  ASSERT_TRUE(store_->Clear(q_).ok());
  ExpectHealthy(*store_);
}

}  // namespace
}  // namespace jobstore::testing
