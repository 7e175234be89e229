// The Redis medium beyond the contract: capabilities, prefixes and databases, the key layout,
// scripts reloaded after a flush, passwords, and what several stores on one server share.
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "cli/cli_harness.h"
#include "redis_fixture.h"

namespace jobstore::testing {
namespace {

class RedisStoreTest : public RedisTest {};

class RedisAlwaysTest : public RedisTest {
 protected:
  RedisConfig Config() const override { return {.appendonly = true, .appendfsync = "always"}; }
};

TEST_F(RedisAlwaysTest, CapabilitiesSayWhatTheServerPersists) {
  auto store = Open();
  ASSERT_TRUE(store);
  const Capabilities c = store->capabilities();
  EXPECT_EQ(c.medium, "redis");
  EXPECT_EQ(c.push_durability, Capabilities::Durability::kServerConfig);
  EXPECT_EQ(c.push_atomicity, Capabilities::PushAtomicity::kWholeBatch);
  EXPECT_TRUE(c.exact_counts);
  EXPECT_TRUE(c.exact_ready_index);
  EXPECT_TRUE(c.shared);
  EXPECT_NE(c.note.find("appendonly yes, appendfsync always"), std::string::npos) << c.note;
  EXPECT_NE(c.note.find("prefix 't'"), std::string::npos) << c.note;
}

TEST_F(RedisStoreTest, CapabilitiesOfAServerWithoutPersistence) {
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_NE(store->capabilities().note.find("no RDB snapshots"), std::string::npos)
      << store->capabilities().note;
}

TEST_F(RedisStoreTest, StoresWithDifferentPrefixesNeverSeeEachOther) {
  auto a = Open("alpha");
  auto b = Open("beta");
  ASSERT_TRUE(a && b);
  const QueueRef q{"", "mail"};
  PushAll(*a, {Spec("mail", "a1"), Spec("mail", "a2"), Spec("other", "a3")});
  PushAll(*b, {Spec("mail", "b1")});
  TypeSettings prio;
  prio.order = Order::kPriority;
  ASSERT_TRUE(b->SetTypeSettings("mail", prio).ok());

  EXPECT_EQ(CountsOf(*a, q), C(2, 0, 0, 0));
  EXPECT_EQ(CountsOf(*b, q), C(1, 0, 0, 0));
  EXPECT_EQ(a->GetTypeSettings("mail")->order, Order::kFifo);
  EXPECT_EQ(a->Types()->size(), 2u);
  EXPECT_EQ(b->Types()->size(), 1u);
  EXPECT_EQ(a->ReadyQueues()->size(), 2u);
  EXPECT_EQ(b->ReadyQueues()->size(), 1u);

  auto from_b = ClaimN(*b, q, 10);
  ASSERT_EQ(from_b.size(), 1u);
  EXPECT_EQ(from_b[0].params, "b1");
  // A claim of one store is not a claim of the other, whatever the ids.
  auto acked_in_a = a->Ack(from_b[0].claim);
  EXPECT_FALSE(acked_in_a.ok());
  EXPECT_EQ(CountsOf(*a, q), C(2, 0, 0, 0));
  EXPECT_TRUE(b->Ack(from_b[0].claim).ok());
  ASSERT_TRUE(b->Clear(q).ok());
  EXPECT_EQ(CountsOf(*a, q), C(2, 0, 0, 0));
  auto from_a = ClaimN(*a, q, 10);
  ASSERT_EQ(from_a.size(), 2u);
  EXPECT_EQ(from_a[0].params, "a1");
  ExpectHealthy(*a);
  ExpectHealthy(*b);
}

TEST_F(RedisStoreTest, StoresInDifferentDatabasesNeverSeeEachOther) {
  auto a = Open("same", 0);
  auto b = Open("same", 1);
  ASSERT_TRUE(a && b);
  PushAll(*a, {Spec("t", "in db 0")});
  EXPECT_EQ(CountsOf(*a, {"", "t"}), C(1, 0, 0, 0));
  EXPECT_EQ(CountsOf(*b, {"", "t"}), C(0, 0, 0, 0));
  EXPECT_TRUE(b->ReadyQueues()->empty());
}

TEST_F(RedisStoreTest, EveryKeyOfAStoreCarriesItsHashTag) {
  auto store = Open("tagged");
  ASSERT_TRUE(store);
  JobSpec d = Spec("t", "dedup", "dom:ain");
  d.dedup = true;
  JobSpec r = Spec("t", "root", "dom:ain");
  r.root_signature = "sig";
  r.root_timestamp_ms = 5;
  r.root_is_self = true;
  JobSpec later = Spec("u", "later");
  later.release_at_ms = clock_->NowMs() + 1000;
  PushAll(*store, {d, r, later, Spec("t", "plain")});
  auto claimed = ClaimN(*store, {"dom:ain", "t"}, 1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store->Release(claimed[0].claim, 0, "failed once").ok());
  auto keys = Raw()->Cmd({"KEYS", "*"});
  ASSERT_GE(keys.elements.size(), 10u);
  for (const auto& k : keys.elements) {
    // One hash tag: one Redis Cluster slot for the whole store, so every script is legal there.
    EXPECT_EQ(k.str.rfind("{tagged}:", 0), 0u) << k.str;
  }
  ExpectHealthy(*store);
}

TEST_F(RedisStoreTest, FunctionsAreLoadedAgainAfterTheServerForgetsThem) {
  auto store = Open();
  ASSERT_TRUE(store);
  PushAll(*store, {Spec("t", "1")});
  EXPECT_EQ(Raw()->Cmd({"FUNCTION", "FLUSH"}).str, "OK");
  PushAll(*store, {Spec("t", "2")});
  auto jobs = ClaimN(*store, {"", "t"}, 2);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(Raw()->Cmd({"FUNCTION", "FLUSH"}).str, "OK");
  auto acks = store->AckMany({jobs[0].claim, jobs[1].claim});
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  EXPECT_TRUE((*acks)[0].ok() && (*acks)[1].ok());
  EXPECT_EQ(Raw()->Cmd({"FUNCTION", "FLUSH"}).str, "OK");
  ExpectHealthy(*store);
}

TEST_F(RedisStoreTest, AStoreThatIsNotThereIsNotFoundWithoutCreateIfMissing) {
  options_.create_if_missing = false;
  auto s = Store::Open(server_->Address("absent"), options_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotFound()) << s.status().ToString();
  EXPECT_TRUE(Raw()->Cmd({"KEYS", "*"}).elements.empty());
}

TEST_F(RedisStoreTest, APrefixTakenBySomethingElseIsRefused) {
  EXPECT_EQ(Raw()->Cmd({"SET", "{theirs}:meta", "not ours"}).str, "OK");
  auto s = Store::Open(server_->Address("theirs"), options_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("choose another prefix"), std::string::npos);
  EXPECT_EQ(Raw()->Cmd({"GET", "{theirs}:meta"}).str, "not ours");
}

TEST_F(RedisStoreTest, ANewerFormatIsRefused) {
  EXPECT_EQ(Raw()->Cmd({"HSET", "{newer}:meta", "format", "2", "id", "x"}).integer, 2);
  auto s = Store::Open(server_->Address("newer"), options_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotSupported()) << s.status().ToString();
}

TEST_F(RedisStoreTest, SettingsChangedByAnotherStoreApplyHereWithinASecond) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  const QueueRef q{"", "t"};
  PushAll(*a, {Spec("t", "first")});
  EXPECT_EQ(a->GetTypeSettings("t")->claim_ttl_ms, 3600 * 1000);  // now cached in a
  TypeSettings s;
  s.claim_ttl_ms = 1000;
  s.order = Order::kPriority;
  ASSERT_TRUE(b->SetTypeSettings("t", s).ok());
  EXPECT_EQ(*b->GetTypeSettings("t"), s);  // at once in the store that set them
  JobSpec low = Spec("t", "low"), high = Spec("t", "high");
  high.priority = 5;
  PushAll(*a, {low, high});  // a push reads the order in Redis: these are in priority order
  // Within the second, a still claims with what it cached.
  auto first = ClaimN(*a, q, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].params, "first");
  EXPECT_EQ(first[0].claim.token.deadline_ms, clock_->NowMs() + 3600 * 1000);
  // A second later by the caller's clock, its next claim reads them again: that claim takes
  // the new order (its TTL was read just before, from the old copy), the one after the TTL.
  clock_->Advance(1000);
  auto second = ClaimN(*a, q, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].params, "high");
  EXPECT_EQ(*a->GetTypeSettings("t"), s);
  auto third = ClaimN(*a, q, 1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].params, "low");
  EXPECT_EQ(third[0].claim.token.deadline_ms, clock_->NowMs() + 1000);
}

TEST_F(RedisStoreTest, DedupHoldsAcrossStoresPushingAtOnce) {
  constexpr int kStores = 4, kRounds = 50;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(Open());
  std::atomic<int> errors{0};
  std::vector<std::set<JobId>> ids(kStores);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      for (int r = 0; r < kRounds; ++r) {
        JobSpec j = Spec("t", "same params " + std::to_string(r % 5));
        j.dedup = true;
        auto pushed = stores[i]->Push({j, j});
        if (!pushed.ok()) {
          ++errors;
          continue;
        }
        ids[i].insert(pushed->ids.begin(), pushed->ids.end());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  // Five distinct params: exactly five queued jobs, and every push named one of them.
  std::set<JobId> all;
  for (const auto& s : ids) all.insert(s.begin(), s.end());
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(CountsOf(*stores[0], {"", "t"}), C(5, 0, 0, 0));
  ExpectHealthy(*stores[0]);
}

TEST_F(RedisStoreTest, WaitForReadyWakesOnAPushOfAnotherStore) {
  auto waiter = Open();
  auto pusher = Open();
  ASSERT_TRUE(waiter && pusher);
  auto epoch = waiter->ReadyEpoch();
  ASSERT_TRUE(epoch.ok());
  std::atomic<bool> woke{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread t([&] {
    EXPECT_TRUE(waiter->WaitForReady(*epoch, 60'000).ok());
    woke = true;
  });
  // The wait may not have subscribed yet: a push lands either before (the epoch read after
  // the subscription differs) or after (the message wakes it). Both must end the wait.
  PushAll(*pusher, {Spec("t", "wake up")});
  t.join();
  EXPECT_TRUE(woke.load());
  // Woken by the push, not by the end of its minute.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_NE(*waiter->ReadyEpoch(), *epoch);
  // A wait on the current epoch with nothing happening ends at its bound.
  EXPECT_TRUE(waiter->WaitForReady(*waiter->ReadyEpoch(), 1).ok());
}

TEST_F(RedisStoreTest, ClaimAnyWaitsForAPushOfAnotherStore) {
  auto worker = Open();
  auto pusher = Open();
  ASSERT_TRUE(worker && pusher);
  std::vector<ClaimedJob> got;
  std::thread t([&] {
    auto r = worker->ClaimAny({}, 4, {}, 60'000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    got = std::move(r).value();
  });
  PushAll(*pusher, {Spec("x", "1"), Spec("y", "2", "d")});
  t.join();
  ASSERT_FALSE(got.empty());
  for (const ClaimedJob& j : got) EXPECT_TRUE(worker->Ack(j.claim).ok());
}

TEST_F(RedisStoreTest, MaintenanceIsBoundedPerPassAndResumes) {
  options_.maintenance_batch = 10;
  auto store = Open();
  ASSERT_TRUE(store);
  std::vector<JobSpec> specs;
  for (int i = 0; i < 25; ++i) {
    JobSpec j = Spec("t", std::to_string(i));
    j.release_at_ms = clock_->NowMs() + 100 + i;
    specs.push_back(j);
  }
  for (int i = 0; i < 25; ++i) {
    JobSpec r = Spec("t", "root " + std::to_string(i));
    r.root_signature = "sig" + std::to_string(i);
    r.root_timestamp_ms = clock_->NowMs();
    r.root_is_self = true;
    specs.push_back(r);
  }
  PushAll(*store, specs);
  const QueueRef q{"", "t"};
  auto roots = ClaimN(*store, q, 25);
  ASSERT_EQ(roots.size(), 25u);
  for (const auto& j : roots) ASSERT_TRUE(store->Ack(j.claim).ok());
  clock_->Advance(1000);
  auto first = store->Maintain();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->promoted, 10u);
  EXPECT_TRUE(first->more);
  auto second = store->Maintain();
  EXPECT_EQ(second->promoted, 10u);
  auto third = store->Maintain();
  EXPECT_EQ(third->promoted, 5u);
  EXPECT_EQ(CountsOf(*store, q), C(25, 0, 0, 0));
  // Promoted in release order.
  auto jobs = ClaimN(*store, q, 25);
  ASSERT_EQ(jobs.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(jobs[static_cast<size_t>(i)].params, std::to_string(i));
  // Root registrations past their TTL go, however many passes the sweep takes.
  clock_->Advance(29LL * 24 * 3600 * 1000);
  uint64_t expired = 0;
  for (int pass = 0; pass < 20 && expired < 25; ++pass) {
    clock_->Advance(61'000);  // the policy sweeps a queue's registrations once a minute
    auto r = store->Maintain();
    ASSERT_TRUE(r.ok());
    expired += r->roots_expired;
  }
  EXPECT_EQ(expired, 25u);
  EXPECT_EQ(Raw()->Cmd({"EXISTS", "{t}:q:/t:rt"}).integer, 0);
}

TEST_F(RedisStoreTest, ListPagesKeepTheirPlaceWhileTheHeadIsClaimed) {
  auto store = Open();
  ASSERT_TRUE(store);
  std::vector<JobSpec> specs;
  for (int i = 0; i < 30; ++i) specs.push_back(Spec("t", std::to_string(i)));
  PushAll(*store, specs);
  const QueueRef q{"", "t"};
  auto page = store->List(q, JobState::kReady, "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 10u);
  EXPECT_EQ(page->jobs[9].params, "9");
  // Five jobs at the head leave: the next page still starts after job "9".
  ASSERT_EQ(ClaimN(*store, q, 5).size(), 5u);
  auto next = store->List(q, JobState::kReady, page->next_cursor, 10);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->jobs.size(), 10u);
  EXPECT_EQ(next->jobs[0].params, "10");
  // A cursor of another state is refused.
  auto wrong = store->List(q, JobState::kDelayed, page->next_cursor, 10);
  EXPECT_TRUE(wrong.status().IsInvalidArgument()) << wrong.status().ToString();
}

class RedisPasswordTest : public RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    EXPECT_EQ(Raw()->Cmd({"CONFIG", "SET", "requirepass", "hunter2"}).str, "OK");
  }
};

TEST_F(RedisPasswordTest, APasswordComesFromAFileAndIsNeverShown) {
  const std::string file = dir_.Sub("password");
  std::ofstream(file) << "hunter2\n";
  const std::string base = "redis+unix:" + server_->socket() + "?prefix=p";
  auto without = Store::Open(base, options_);
  ASSERT_FALSE(without.ok());
  EXPECT_TRUE(without.status().IsInvalidArgument()) << without.status().ToString();
  EXPECT_NE(without.status().message().find("password_file"), std::string::npos);

  auto wrong = Store::Open(base + "&password=nope-not-it", options_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(wrong.status().IsInvalidArgument()) << wrong.status().ToString();
  EXPECT_EQ(wrong.status().message().find("nope-not-it"), std::string::npos);

  auto store = OpenAt(base + "&password_file=" + file);
  ASSERT_TRUE(store);
  PushAll(*store, {Spec("t", "1")});
  EXPECT_EQ(CountsOf(*store, {"", "t"}), C(1, 0, 0, 0));
  EXPECT_EQ(store->capabilities().note.find("hunter2"), std::string::npos);
}

// Options::redis_password for addresses that name none; jobstore --redis-password-file and
// $JOBSTORE_REDIS_PASSWORD_FILE give it to the CLI. The password is never printed.
TEST_F(RedisPasswordTest, APasswordFromTheOptionsOrTheCli) {
  const std::string address = "redis+unix:" + server_->socket() + "?prefix=cli";
  Options with = options_;
  with.redis_password = "hunter2";
  auto store = Store::Open(address, with);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  PushAll(**store, {Spec("t", "1")});
  // An address's own password wins over the option's.
  with.redis_password = "not-this-one";
  auto own = Store::Open(address + "&password=hunter2", with);
  ASSERT_TRUE(own.ok()) << own.status().ToString();

  const std::string file = dir_.Sub("pw");
  std::ofstream(file) << "hunter2\nsecond line ignored\n";
  clitest::Invocation push;
  push.args = {"--store", address, "--redis-password-file", file, "push", "t", "{}"};
  clitest::Output pushed = clitest::RunBinary(JOBSTORE_CLI, push);
  EXPECT_EQ(pushed.status, 0) << pushed.err;
  clitest::Invocation stats;
  stats.args = {"--store", address, "--json", "stats"};
  stats.env["JOBSTORE_REDIS_PASSWORD_FILE"] = file;
  clitest::Output counted = clitest::RunBinary(JOBSTORE_CLI, stats);
  EXPECT_EQ(counted.status, 0) << counted.err;
  EXPECT_NE(counted.out.find("\"ready\":2"), std::string::npos) << counted.out;
  clitest::Invocation wrong;
  std::ofstream(dir_.Sub("wrong")) << "nope\n";
  wrong.args = {"--store", address, "--redis-password-file", dir_.Sub("wrong"), "stats"};
  clitest::Output refused = clitest::RunBinary(JOBSTORE_CLI, wrong);
  EXPECT_NE(refused.status, 0) << refused.out;
  EXPECT_NE(refused.err.find("password"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("nope"), std::string::npos) << refused.err;
  EXPECT_EQ((refused.out + refused.err + pushed.out + pushed.err).find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace jobstore::testing
