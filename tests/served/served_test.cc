// The served store in one process: a StoreServer over a store, clients over real sockets.
// What the conformance suite cannot see: waits that park, bounds, stopping, hostile peers,
// TCP with a token and TLS.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <set>
#include <thread>

#include <kj/async-io.h>

#include "forwarding_store.h"
#include "sockets.h"
#include "served/raw_peer.h"
#include "served/served_fixture.h"
#include "support/eventually.h"
#include "support/recording_observer.h"

namespace jobstore::testing {
namespace {

using namespace std::chrono_literals;

// A store whose Check() blocks until Release(): a slow call.
class GatedStore : public internal::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::vector<std::string>> Check() override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(l, [&] { return open_; });
      --waiting_;
    }
    return ForwardingStore::Check();
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitForCheckers(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 20s, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

TEST_F(ServedTest, PushClaimAckThroughTheServer) {
  Serve();
  auto client = Connect();
  ASSERT_TRUE(client);
  auto pushed = client->Push({Spec("email", "a"), Spec("email", "b")});
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->pushed, 2u);
  auto claimed = client->Claim({"", "email"}, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].params, "a");
  EXPECT_TRUE(client->Ack((*claimed)[0].claim).ok());
  auto counts = owner_->Counts({"", "email"});
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (QueueCounts{0, 1, 0, 0}));
  const Capabilities caps = client->capabilities();
  EXPECT_EQ(caps.medium, "remote");
  EXPECT_TRUE(caps.shared);
  EXPECT_NE(caps.note.find("served by process " + std::to_string(getpid())), std::string::npos)
      << caps.note;
  EXPECT_EQ(client->backend(), nullptr);
}

TEST_F(ServedTest, TheServersClockDecidesDeadlines) {
  Serve();
  Options mine;
  auto other_clock = std::make_shared<ManualClock>(5);  // the client's clock is not used
  mine.clock = other_clock;
  auto client = Connect(mine);
  ASSERT_TRUE(client->Push({Spec("t", "x")}).ok());
  auto claimed = client->Claim({"", "t"}, 1, 1000);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  EXPECT_EQ((*claimed)[0].claim.token.deadline_ms, clock_->NowMs() + 1000);
}

TEST_F(ServedTest, ManyThreadsShareOneConnection) {
  Serve();
  auto client = Connect();
  constexpr int kThreads = 16, kJobs = 200;
  std::vector<std::thread> threads;
  std::atomic<int> acked{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        auto p = client->Push({Spec("t" + std::to_string(t % 4), std::to_string(i))});
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        auto c = client->ClaimAny({}, 1);
        ASSERT_TRUE(c.ok()) << c.status().ToString();
        for (auto& job : *c) {
          Status s = client->Ack(job.claim);
          ASSERT_TRUE(s.ok()) << s.ToString();
          ++acked;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Drain what the threads' claims missed (another thread's push, claimed by nobody yet).
  for (;;) {
    auto c = client->ClaimAny({}, 100);
    ASSERT_TRUE(c.ok());
    if (c->empty()) break;
    auto r = client->AckMany([&] {
      std::vector<Claim> cs;
      for (auto& j : *c) cs.push_back(j.claim);
      return cs;
    }());
    ASSERT_TRUE(r.ok());
    for (auto& s : *r) ASSERT_TRUE(s.ok()) << s.ToString();
    acked += static_cast<int>(c->size());
  }
  EXPECT_EQ(acked.load(), kThreads * kJobs);
  auto queues = owner_->Queues();
  ASSERT_TRUE(queues.ok());
  for (auto& q : *queues) EXPECT_EQ(q.counts.total(), 0u) << q.queue.type;
}

TEST_F(ServedTest, AWaitingClaimHoldsNoThreadAndWakesOnAPush) {
  ServeOptions serve;
  serve.workers = 1;
  serve.max_workers = 1;  // one pool thread: a wait that held it would stall everyone
  Serve("memory:x", serve);
  auto waiter = Connect();
  auto other = Connect();
  std::future<Result<std::vector<ClaimedJob>>> waited = std::async(std::launch::async, [&] {
    return waiter->ClaimAny({std::nullopt, {"x"}, {}}, 1, std::nullopt, 60'000);
  });
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_waiting == 1; }));
  // The other client works meanwhile, through the one pool thread.
  ASSERT_TRUE(other->Push({Spec("y", "1")}).ok());
  auto y = other->Claim({"", "y"}, 1);
  ASSERT_TRUE(y.ok() && y->size() == 1);
  ASSERT_TRUE(other->Ack((*y)[0].claim).ok());
  EXPECT_EQ(waited.wait_for(0ms), std::future_status::timeout);
  ASSERT_TRUE(other->Push({Spec("x", "for the waiter")}).ok());
  auto got = waited.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].params, "for the waiter");
  EXPECT_EQ(server_->stats().calls_waiting, 0u);
}

// Connections spread over the server's loops (each new one to the loop with the fewest), and
// a push wakes the parked claims of every loop, not only of the loop that took the push.
TEST_F(ServedTest, ConnectionsSpreadOverLoopsAndAPushWakesWaitsOnEveryLoop) {
  ServeOptions serve;
  serve.loops = 3;
  Serve("memory:x", serve);
  constexpr int kWaiters = 3;  // connected one after another: one on each loop
  std::vector<std::unique_ptr<Store>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(Connect());
  std::vector<std::future<Result<std::vector<ClaimedJob>>>> waits;
  for (auto& w : waiters) {
    waits.push_back(std::async(std::launch::async, [&w] {
      return w->ClaimAny({std::nullopt, {"w"}, {}}, 1, std::nullopt, 60'000);
    }));
  }
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_waiting == kWaiters; }));
  auto pusher = Connect();
  ASSERT_TRUE(pusher->Push({Spec("w", "0"), Spec("w", "1"), Spec("w", "2")}).ok());
  std::set<std::string> got;
  for (auto& w : waits) {
    auto r = w.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    got.insert((*r)[0].params);
    ASSERT_TRUE(pusher->Ack((*r)[0].claim).ok());
  }
  EXPECT_EQ(got, (std::set<std::string>{"0", "1", "2"}));
  EXPECT_EQ(server_->stats().connections_open, kWaiters + 1u);

  // Every loop's connections work at once: each client pushes, claims and acks its own type.
  constexpr int kJobs = 100;
  std::vector<std::thread> threads;
  std::atomic<int> acked{0};
  for (int t = 0; t < kWaiters; ++t) {
    threads.emplace_back([&, t] {
      Store& s = *waiters[t];
      const std::string type = "t" + std::to_string(t);
      for (int i = 0; i < kJobs; ++i) {
        ASSERT_TRUE(s.Push({Spec(type, std::to_string(i))}).ok());
        auto c = s.AckThenClaimAny({}, {std::nullopt, {type}, {}}, 1, std::nullopt, 0);
        ASSERT_TRUE(c.ok() && c->claimed.ok() && c->claimed->size() == 1);
        auto done = s.AckThenClaimAny({(*c->claimed)[0].claim}, {std::nullopt, {type}, {}}, 1,
                                      std::nullopt, 0);
        ASSERT_TRUE(done.ok() && done->acked.size() == 1 && done->acked[0].ok());
        ASSERT_TRUE(done->claimed.ok() && done->claimed->empty());
        ++acked;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.load(), kWaiters * kJobs);
  auto queues = owner_->Queues();
  ASSERT_TRUE(queues.ok());
  for (auto& q : *queues) EXPECT_EQ(q.counts.total(), 0u) << q.queue.type;
}

TEST_F(ServedTest, AckThenClaimAnyIsOneCallAndAcksBeforeItWaits) {
  auto observed = std::make_shared<RecordingObserver>();
  options_.observer = observed;
  Serve("memory:x");
  auto client = Connect();
  ASSERT_TRUE(client->Push({Spec("x", "1"), Spec("x", "2")}).ok());
  auto first = client->Claim({"", "x"}, 1);
  ASSERT_TRUE(first.ok() && first->size() == 1);
  const ReadyFilter only_x{std::nullopt, {"x"}, {}};

  // One round trip: the server counts one call for the ack and the claim, and hands them to
  // the store as one AckThenClaimAny (one write on RocksDB, design note 39), not AckMany then
  // ClaimAny: the owner's observer times one claim call and no ack call.
  const uint64_t calls = server_->stats().calls;
  const uint64_t claims = observed->Calls(StoreObserver::Call::kClaim);
  const uint64_t acks = observed->Calls(StoreObserver::Call::kAck);
  auto next = client->AckThenClaimAny({(*first)[0].claim}, only_x, 1);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->acked.size(), 1u);
  EXPECT_TRUE(next->acked[0].ok());
  ASSERT_TRUE(next->claimed.ok() && next->claimed->size() == 1);
  EXPECT_EQ((*next->claimed)[0].params, "2");
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls >= calls + 1; }));
  EXPECT_EQ(server_->stats().calls, calls + 1);
  EXPECT_EQ(observed->Calls(StoreObserver::Call::kClaim), claims + 1);
  EXPECT_EQ(observed->Calls(StoreObserver::Call::kAck), acks)
      << "the server acked in a call of its own";
  EXPECT_EQ(*owner_->Counts({"", "x"}), (QueueCounts{0, 1, 0, 0}));

  // Nothing ready: the ack is applied at once, then the claim parks until a push.
  std::future<Result<AckedThenClaimed>> waited = std::async(std::launch::async, [&] {
    return client->AckThenClaimAny({(*next->claimed)[0].claim}, only_x, 1, std::nullopt, 60'000);
  });
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_waiting == 1; }));
  EXPECT_EQ(*owner_->Counts({"", "x"}), (QueueCounts{0, 0, 0, 0}));
  ASSERT_TRUE(owner_->Push({Spec("x", "3")}).ok());
  auto got = waited.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->acked.size(), 1u);
  EXPECT_TRUE(got->acked[0].ok());
  ASSERT_TRUE(got->claimed.ok() && got->claimed->size() == 1);
  EXPECT_EQ((*got->claimed)[0].params, "3");
  EXPECT_EQ(*owner_->Counts({"", "x"}), (QueueCounts{0, 1, 0, 0}));
}

TEST_F(ServedTest, WaitForReadyReturnsWhenTheEpochMoves) {
  Serve();
  auto client = Connect();
  auto epoch = client->ReadyEpoch();
  ASSERT_TRUE(epoch.ok());
  auto waited = std::async(std::launch::async, [&] { return client->WaitForReady(*epoch, 60'000); });
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_waiting == 1; }));
  ASSERT_TRUE(owner_->Push({Spec("t", "x")}).ok());
  EXPECT_TRUE(waited.get().ok());
  auto after = client->ReadyEpoch();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(*after, *epoch);
  // A wait that times out is OK too, and a huge one is capped, not overflowed.
  EXPECT_TRUE(client->WaitForReady(*after, 1).ok());
  auto none = client->ClaimAny({std::nullopt, {"nothing"}, {}}, 1, std::nullopt, 1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(ServedTest, ASlowCallDoesNotHoldUpOtherClients) {
  auto gated = std::make_unique<GatedStore>(std::move(Store::Open("memory:g", options_)).value());
  GatedStore* gate = gated.get();
  owner_ = std::move(gated);
  ServeOptions serve;
  serve.listen = {"unix:" + dir_.Sub("s.sock")};
  serve.log = [](const std::string&) {};
  auto started = StoreServer::Start(owner_.get(), serve);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server_ = std::move(started).value();

  auto slow = Connect();
  auto fast = Connect();
  // 20 slow calls on one connection: at most max_active_per_connection (8) run at once, the
  // rest queue behind them in that connection's lane.
  std::vector<std::future<Result<std::vector<std::string>>>> checks;
  for (int i = 0; i < 20; ++i) {
    checks.push_back(std::async(std::launch::async, [&] { return slow->Check(); }));
  }
  ASSERT_TRUE(gate->WaitForCheckers(8));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(fast->Push({Spec("t", std::to_string(i))}).ok());
  }
  auto c = fast->Counts({"", "t"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ready, 50u);
  gate->Release();
  for (auto& f : checks) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->empty());
  }
}

TEST_F(ServedTest, ReadOnlyConnectionAndReadOnlyStore) {
  Serve();
  Options ro;
  ro.read_only = true;
  auto reader = Connect(ro);
  EXPECT_TRUE(reader->IsReadOnly());
  EXPECT_TRUE(reader->Push({Spec("t", "x")}).status().IsReadOnly());
  EXPECT_TRUE(reader->Counts({"", "t"}).ok());
  reader->SetReadOnly(false);
  EXPECT_TRUE(reader->Push({Spec("t", "x")}).ok());
  // The store's own read-only mode is the server's: a client cannot lift it.
  owner_->SetReadOnly(true);
  auto writer = Connect();
  EXPECT_TRUE(writer->IsReadOnly());
  writer->SetReadOnly(false);
  EXPECT_TRUE(writer->Push({Spec("t", "y")}).status().IsReadOnly());
}

TEST_F(ServedTest, ThePolicyIsTheServersAndBatchBoundsHold) {
  Serve();
  auto client = Connect();
  EXPECT_TRUE(client->Push({Spec("bad type!", "x")}).status().IsInvalidArgument());
  std::vector<JobSpec> many(kMaxPushBatch + 1, Spec("t", ""));
  auto big = client->Push(many);
  EXPECT_TRUE(big.status().IsInvalidArgument()) << big.status().ToString();
  EXPECT_NE(big.status().message().find("limit"), std::string::npos);
  EXPECT_TRUE(client->Claim({"", "t"}, kMaxClaimBatch + 1).status().IsInvalidArgument());
  std::vector<Claim> acks(kMaxClaimBatch + 1);
  for (auto& a : acks) a.queue = {"", "t"};
  EXPECT_TRUE(client->AckMany(acks).status().IsInvalidArgument());
  auto none = owner_->Counts({"", "t"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->total(), 0u);
  EXPECT_GE(server_->stats().calls_refused, 1u);
}

TEST_F(ServedTest, MessagesOverTheLimitAreRefusedBeforeTheyAreSent) {
  ServeOptions serve;
  serve.max_message_bytes = 1 << 20;
  Serve("memory:x", serve);
  auto client = Connect();
  std::string half(600 << 10, 'x');
  auto r = client->Push({Spec("t", half), Spec("t", half)});
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("nothing was pushed"), std::string::npos);
  // One of them fits, and the connection is still good.
  EXPECT_TRUE(client->Push({Spec("t", half)}).ok());
  // An answer that would not fit comes in smaller pieces: two such jobs claimed at once.
  ASSERT_TRUE(client->Push({Spec("t", half)}).ok());
  auto claimed = client->Claim({"", "t"}, 2);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_EQ(claimed->size(), 1u);  // the other went back to ready
  auto counts = owner_->Counts({"", "t"});
  EXPECT_EQ(*counts, (QueueCounts{1, 1, 0, 0}));
  auto page = client->List({"", "t"}, JobState::kReady, "", 100);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->jobs.size(), 1u);
}

TEST_F(ServedTest, StoppingFinishesCallsInFlightThenRefuses) {
  auto gated = std::make_unique<GatedStore>(std::move(Store::Open("memory:g", options_)).value());
  GatedStore* gate = gated.get();
  owner_ = std::move(gated);
  ServeOptions serve;
  serve.listen = {"unix:" + dir_.Sub("s.sock")};
  serve.log = [](const std::string&) {};
  server_ = std::move(StoreServer::Start(owner_.get(), serve)).value();
  auto client = Connect();
  auto waiter = Connect();
  auto check = std::async(std::launch::async, [&] { return client->Check(); });
  auto parked = std::async(std::launch::async, [&] {
    return waiter->ClaimAny({}, 1, std::nullopt, 60'000);
  });
  ASSERT_TRUE(gate->WaitForCheckers(1));
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_waiting == 1; }));
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(); });
  // The parked wait ends at once with nothing; the slow call keeps Stop() waiting.
  auto woke = parked.get();
  ASSERT_TRUE(woke.ok()) << woke.status().ToString();
  EXPECT_TRUE(woke->empty());
  EXPECT_EQ(stopped.wait_for(50ms), std::future_status::timeout);
  gate->Release();
  auto checked = check.get();
  EXPECT_TRUE(checked.ok()) << checked.status().ToString();
  stopped.get();
  // Once the client has seen the connection close, calls fail at once and say they were not
  // applied. (One sent before it noticed cannot know: it says it may or may not have been.)
  ASSERT_TRUE(Eventually([&] { return client->Counts({"", "t"}).status().IsUnavailable(); }));
  auto late = client->Push({Spec("t", "x")});
  ASSERT_TRUE(late.status().IsUnavailable()) << late.status().ToString();
  EXPECT_NE(late.status().message().find("not applied"), std::string::npos)
      << late.status().message();
  EXPECT_TRUE(client->Counts({"", "t"}).status().IsUnavailable());
  auto counts = owner_->Counts({"", "t"});
  EXPECT_EQ(counts->total(), 0u);
  // Its socket is gone: opening it now says nobody serves there.
  auto again = Store::Open("unix:" + dir_.Sub("s.sock"));
  EXPECT_TRUE(again.status().IsUnavailable()) << again.status().ToString();
}

TEST_F(ServedTest, GarbageInsteadOfAHelloIsRefusedAndLogged) {
  Serve();
  const std::string path = dir_.Sub("s.sock");
  {
    RawSocket s(path);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string reply = s.ReadToEnd();
    ASSERT_GE(reply.size(), 5u);
    EXPECT_EQ(reply[0], 1) << "refused";
    EXPECT_NE(reply.find("jobstore hello"), std::string::npos) << reply;
  }
  {
    RawSocket s(path);
    ASSERT_TRUE(s.Send("JOBST"));  // truncated
    ::shutdown(s.fd(), SHUT_WR);
    s.ReadToEnd();
  }
  {
    RawSocket s(path);
    ASSERT_TRUE(s.Send(HelloBytes("", 99)));
    EXPECT_NE(s.ReadToEnd().find("protocol version 99"), std::string::npos);
  }
  {
    RawSocket s(path);
    std::string huge = HelloBytes();
    huge[12] = huge[13] = huge[14] = '\x7f';  // a token "length" of ~8 MB
    ASSERT_TRUE(s.Send(huge));
    EXPECT_NE(s.ReadToEnd().find("over the limit"), std::string::npos);
  }
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_refused >= 4; }));
  EXPECT_TRUE(Logged("did not send a jobstore hello"));
  EXPECT_TRUE(Logged("ended inside the hello"));
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->Push({Spec("t", "still serving")}).ok());
}

TEST_F(ServedTest, MalformedRpcMessagesDropOnlyThatConnection) {
  Serve();
  auto client = Connect();
  const std::string path = dir_.Sub("s.sock");
  const std::vector<std::string> bad = {
      // A segment table declaring 2^28 words (2 GiB): over the traversal limit, not allocated.
      std::string("\0\0\0\0\0\0\0\x10", 8),
      // 600 segments: over Cap'n Proto's segment limit.
      std::string("\x57\x02\0\0", 4) + std::string(4 * 600, '\1'),
      // A well-framed message whose root pointer points far outside it.
      std::string("\0\0\0\0\2\0\0\0", 8) + std::string("\xfc\xff\xff\x7f\0\0\0\0", 8) +
          std::string(8, '\0'),
      // A message declared as 100 words, cut after 2.
      std::string("\0\0\0\0\x64\0\0\0", 8) + std::string(16, '\0'),
  };
  for (const std::string& bytes : bad) {
    RawSocket s(path);
    ASSERT_TRUE(s.Send(HelloBytes()));
    char reply[7];
    ASSERT_EQ(::read(s.fd(), reply, sizeof reply), 7);
    ASSERT_EQ(std::string(reply, 7), AcceptedReply());
    ASSERT_TRUE(s.Send(bytes));
    ::shutdown(s.fd(), SHUT_WR);
    s.ReadToEnd();  // the server drops the connection
  }
  ASSERT_TRUE(Eventually([&] { return server_->stats().protocol_errors >= 3; }))
      << server_->stats().protocol_errors;
  EXPECT_TRUE(Logged("connection dropped"));
  EXPECT_TRUE(Logged("too large") || Logged("Message is too large"));
  EXPECT_TRUE(client->Push({Spec("t", "others keep working")}).ok());
  EXPECT_EQ(owner_->Counts({"", "t"})->ready, 1u);
}

TEST_F(ServedTest, CallsInFlightOverTheLimitAreRefused) {
  ServeOptions serve;
  serve.max_calls_in_flight = 3;
  Serve("memory:x", serve);
  RawSocket s(dir_.Sub("s.sock"));
  ASSERT_TRUE(s.Send(HelloBytes()));
  char reply[7];
  ASSERT_EQ(::read(s.fd(), reply, sizeof reply), 7);
  auto io = kj::setupAsyncIo();
  auto stream = io.lowLevelProvider->wrapSocketFd(s.fd());
  capnp::TwoPartyClient rpc(*stream);
  auto store = rpc.bootstrap().castAs<wire::Store>();
  auto calls = kj::heapArrayBuilder<kj::Promise<wire::StatusCode>>(8);
  for (int i = 0; i < 8; ++i) {
    auto req = store.claimAnyRequest();
    req.initFilter().setAnyDomain(true);
    req.setMaxJobs(1);
    req.setWaitMs(300);  // parks: the first three stay in flight meanwhile
    calls.add(req.send().then([](auto&& r) { return r.getStatus().getCode(); }));
  }
  auto codes = kj::joinPromises(calls.finish()).wait(io.waitScope);
  int ok = 0, refused = 0;
  for (auto c : codes) {
    if (c == wire::StatusCode::OK) ++ok;
    if (c == wire::StatusCode::UNAVAILABLE) ++refused;
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(refused, 5);
  EXPECT_GE(server_->stats().calls_refused, 5u);
}

TEST_F(ServedTest, AThousandConnectionsAndAStuckPeerDoNotStopOthers) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  // Two descriptors per connection in this process (ours and the server's), plus room.
  const size_t n = std::min<size_t>(1000, (lim.rlim_cur - 200) / 2);
  ServeOptions serve;
  serve.max_connections = n + 1;
  Serve("memory:x", serve);
  const std::string path = dir_.Sub("s.sock");
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (size_t i = 0; i < n; ++i) {
    idle.push_back(std::make_unique<RawSocket>(path));
    ASSERT_TRUE(idle.back()->ok()) << i;
    // Each stuck in the middle of its hello.
    ASSERT_TRUE(idle.back()->Send("JOB"));
  }
  auto client = Connect();  // the last place under the limit
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->Push({Spec("t", "x")}).ok());
  {
    RawSocket over(path);
    ASSERT_TRUE(over.Send(HelloBytes()));
    const std::string reply = over.ReadToEnd();
    EXPECT_NE(reply.find("too many connections"), std::string::npos) << reply;
  }
  EXPECT_TRUE(Logged("connections are open, the limit"));
  idle.clear();
  // They go away, each logged; the log stays bounded (50 lines a second, then a count).
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_refused >= n + 1; }));
  // (At most 50 lines a second: a flood of a thousand refusals leaves a few hundred at most.)
  EXPECT_LT(Log().size(), n / 4 + 10);
  EXPECT_TRUE(client->Push({Spec("t", "y")}).ok());
  EXPECT_EQ(owner_->Counts({"", "t"})->ready, 2u);
}

TEST_F(ServedTest, APeerThatNeverSendsItsHelloIsClosed) {
  ServeOptions serve;
  serve.handshake_timeout_ms = 200;
  Serve("memory:x", serve);
  RawSocket s(dir_.Sub("s.sock"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.ReadToEnd(), "");  // returns once the server closes it
  ASSERT_TRUE(Eventually([&] { return Logged("timed out"); }));
}

TEST_F(ServedTest, APeerThatNeverReadsDoesNotBlockOthers) {
  Serve();
  ASSERT_TRUE(owner_->Push({Spec("t", std::string(64 << 10, 'p'))}).ok());
  RawSocket s(dir_.Sub("s.sock"));
  ASSERT_TRUE(s.Send(HelloBytes()));
  char reply[7];
  ASSERT_EQ(::read(s.fd(), reply, sizeof reply), 7);
  // Many list calls whose answers (64 KiB each) fill the socket: the peer never reads them.
  {
    auto io = kj::setupAsyncIo();
    auto stream = io.lowLevelProvider->wrapSocketFd(s.fd());
    capnp::TwoPartyClient rpc(*stream);
    auto store = rpc.bootstrap().castAs<wire::Store>();
    std::vector<kj::Promise<void>> sent;
    for (int i = 0; i < 200; ++i) {
      auto req = store.listRequest();
      req.initQueue().setType("t");
      req.setLimit(10);
      sent.push_back(req.send().ignoreResult());
    }
    // Let the requests go out, then walk away without reading.
    kj::evalLater([] {}).wait(io.waitScope);
    io.provider->getTimer().afterDelay(50 * kj::MILLISECONDS).wait(io.waitScope);
  }
  auto client = Connect();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client->Push({Spec("u", "x")}).ok());
  EXPECT_EQ(client->Counts({"", "u"})->ready, 20u);
}

TEST_F(ServedTest, PeersOfAnotherUserAreRefused) {
  Serve();
  const std::string path = dir_.Sub("s.sock");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (geteuid() != 0) {
    // Only root can become another user here: check the rule itself.
    EXPECT_TRUE(remote::PeerUidAllowed(geteuid()));
    EXPECT_FALSE(remote::PeerUidAllowed(geteuid() + 1));
    return;
  }
  auto as_nobody = [&](auto body) {
    pid_t child = fork();
    if (child == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
      _exit(body());
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
  };
  // Mode 0600: another user cannot even connect.
  EXPECT_EQ(as_nobody([&] { return RawSocket(path).ok() ? 1 : 0; }), 0);
  // Were the socket opened up by mistake, its credentials are still checked.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  EXPECT_EQ(as_nobody([&] {
              RawSocket s(path);
              if (!s.ok()) return 2;
              if (!s.Send(HelloBytes())) return 3;
              return s.ReadToEnd().find("may not use this store") != std::string::npos ? 0 : 4;
            }),
            0);
  EXPECT_TRUE(Logged("uid 65534"));
  EXPECT_TRUE(Connect() != nullptr);
}

std::string MakeToken() { return "0123456789abcdef0123456789abcdef"; }

TEST_F(ServedTest, TcpNeedsATokenAndRefusesWrongOnes) {
  {
    ServeOptions serve;
    serve.listen = {"tcp:127.0.0.1:0"};
    auto s = StoreServer::Start(nullptr, serve);
    EXPECT_FALSE(s.ok());
  }
  auto store = Store::Open("memory:tcp", options_);
  ServeOptions no_token;
  no_token.listen = {"tcp:127.0.0.1:0"};
  auto refused = StoreServer::Start(store->get(), no_token);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("token"), std::string::npos);
  ServeOptions short_token = no_token;
  short_token.token = "abc";
  EXPECT_FALSE(StoreServer::Start(store->get(), short_token).ok());
  ServeOptions open = no_token;
  open.listen = {"tcp:0.0.0.0:0"};
  open.token = MakeToken();
  auto clear = StoreServer::Start(store->get(), open);
  ASSERT_FALSE(clear.ok());
  EXPECT_NE(clear.status().message().find("TLS"), std::string::npos) << clear.status().message();
  EXPECT_NE(clear.status().message().find("not a loopback"), std::string::npos);

  ServeOptions serve;
  serve.listen = {"tcp:127.0.0.1:0"};
  serve.token = MakeToken();
  Serve("memory:tcp2", serve);
  const std::string address = Address();
  ASSERT_EQ(address.rfind("tcp:127.0.0.1:", 0), 0u) << address;
  auto none = Store::Open(address);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsInvalidArgument()) << none.status().ToString();
  EXPECT_NE(none.status().message().find("no token"), std::string::npos);
  Options wrong;
  wrong.token = "fedcba9876543210fedcba9876543210";
  auto bad = Store::Open(address, wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("wrong token"), std::string::npos);
  EXPECT_EQ(bad.status().message().find(wrong.token), std::string::npos) << "echoed the token";
  Options right;
  right.token = MakeToken();
  auto good = Store::Open(address, right);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_TRUE((*good)->Push({Spec("t", "over tcp")}).ok());
  EXPECT_EQ(owner_->Counts({"", "t"})->ready, 1u);
  EXPECT_TRUE(Logged("wrong token"));
  for (const std::string& line : Log()) {
    EXPECT_EQ(line.find(wrong.token), std::string::npos) << "logged a token: " << line;
    EXPECT_EQ(line.find(MakeToken()), std::string::npos) << "logged the token: " << line;
  }
}

TEST_F(ServedTest, TlsWithASelfSignedCertificate) {
  const std::string cert = dir_.Sub("cert.pem"), key = dir_.Sub("key.pem");
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                          "-nodes -keyout " + key + " -out " + cert +
                          " -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
                          ">/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ServeOptions serve;
  serve.listen = {"tcp:127.0.0.1:0"};
  serve.token = MakeToken();
  serve.tls_cert_file = cert;
  serve.tls_key_file = key;
  Serve("memory:tls", serve);
  const std::string port = Address().substr(Address().rfind(':') + 1);
  Options tls;
  tls.token = MakeToken();
  tls.tls_ca_file = cert;
  auto client = Store::Open("tcp:localhost:" + port, tls);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Push({Spec("t", "over tls")}).ok());
  auto claimed = (*client)->Claim({"", "t"}, 1);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  EXPECT_EQ((*claimed)[0].params, "over tls");
  // Without TLS the server sees no TLS handshake and hangs up; the client says so.
  Options plain;
  plain.token = MakeToken();
  auto refused = Store::Open("tcp:localhost:" + port, plain);
  EXPECT_FALSE(refused.ok());
  // A certificate the client does not trust is refused by the client.
  const std::string other = dir_.Sub("other.pem"), other_key = dir_.Sub("other-key.pem");
  const std::string cmd2 = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                           "-nodes -keyout " + other_key + " -out " + other +
                           " -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
                           ">/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd2.c_str()), 0);
  Options untrusting = tls;
  untrusting.tls_ca_file = other;
  auto distrust = Store::Open("tcp:localhost:" + port, untrusting);
  EXPECT_FALSE(distrust.ok());
  untrusting.tls_ca_file = dir_.Sub("missing.pem");
  EXPECT_TRUE(Store::Open("tcp:localhost:" + port, untrusting).status().IsInvalidArgument());
  // The server logged the failed handshakes and still serves.
  EXPECT_TRUE((*client)->Push({Spec("t", "again")}).ok());
}

TEST_F(ServedTest, ListenersThatCannotBeMadeFailAtStart) {
  auto store = Store::Open("memory:l", options_);
  ServeOptions serve;
  serve.listen = {"unix:" + dir_.Sub("a.sock")};
  auto first = StoreServer::Start(store->get(), serve);
  ASSERT_TRUE(first.ok());
  auto second = StoreServer::Start(store->get(), serve);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  (*first)->Stop();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("a.sock"))) << "Stop removes its socket";
  // A stale socket (its server gone without removing it) is replaced.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, dir_.Sub("a.sock").c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    close(fd);
  }
  auto third = StoreServer::Start(store->get(), serve);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  struct stat st;
  ASSERT_EQ(stat(dir_.Sub("a.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Something else at the path is not replaced.
  std::ofstream(dir_.Sub("file")) << "x";
  ServeOptions onfile;
  onfile.listen = {"unix:" + dir_.Sub("file")};
  EXPECT_TRUE(StoreServer::Start(store->get(), onfile).status().IsInvalidArgument());
  ServeOptions junk;
  junk.listen = {"redis://x"};
  EXPECT_TRUE(StoreServer::Start(store->get(), junk).status().IsInvalidArgument());
  junk.listen = {"tcp:127.0.0.1:notaport"};
  EXPECT_TRUE(StoreServer::Start(store->get(), junk).status().IsInvalidArgument());
  junk.listen = {"unix:" + std::string(200, 'x')};
  EXPECT_TRUE(StoreServer::Start(store->get(), junk).status().IsInvalidArgument());
  junk.listen = {"unix:" + dir_.Sub("b.sock")};
  junk.tls_cert_file = "only-one.pem";
  EXPECT_TRUE(StoreServer::Start(store->get(), junk).status().IsInvalidArgument());
}

}  // namespace
}  // namespace jobstore::testing

namespace jobstore::testing {
namespace {
TEST_F(ServedTest, ReleaseOfAGoneJobIsNotFound) {
  Serve();
  auto client = Connect();
  ASSERT_TRUE(client->Push({Spec("t", "x")}).ok());
  auto c = client->Claim({"", "t"}, 1);
  ASSERT_TRUE(c.ok() && c->size() == 1);
  ASSERT_TRUE(client->Ack((*c)[0].claim).ok());
  auto r = client->Release((*c)[0].claim);
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
}
}  // namespace
}  // namespace jobstore::testing
