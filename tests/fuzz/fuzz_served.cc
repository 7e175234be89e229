// libFuzzer target: a served store's message handling (engine/media/remote). A StoreServer
// over an in-memory store listens on a unix socket; each input is one hostile connection.
// Its first byte picks what the rest is:
//   even  the raw bytes of the connection, hello included (the hello parser's input);
//   odd   the bytes after a valid hello: Cap'n Proto framing and RPC messages, which reach
//         the RPC layer and the store's handlers (the checked-in corpus starts with real
//         calls: bootstrap, push, claim, ack, list, claimAny with a wait, ...).
// The connection is then half-closed and read to its end. The server must never crash, leak or
// hang (libFuzzer's -timeout), and must keep serving: every 256 inputs a real client checks it.
//
// JOBSTORE_FUZZ_WRITE_CORPUS=DIR writes the seed corpus to DIR and exits.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>
#include <kj/io.h>

#include "hello.h"
#include "jobstore/address.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "memory_backend.h"
#include "remote.capnp.h"
#include "remote.h"

namespace {

std::string g_socket;
jobstore::Store* g_store = nullptr;
jobstore::StoreServer* g_server = nullptr;

std::string Hello() {
  std::string out = "JOBSTORE";
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  };
  u32(jobstore::remote::kProtocolVersion);
  u32(0);
  return out;
}

int Connect() {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, g_socket.c_str(), sizeof sa.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::abort();
  return fd;
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads until the server closes; a server that never does is a hang, and libFuzzer's timeout
// reports it.
void DrainUntilClosed(int fd) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
  }
}

// A real client still gets answers.
void CheckServing() {
  jobstore::Address address;
  address.scheme = jobstore::Address::Scheme::kUnix;
  address.text = "unix:" + g_socket;
  address.rest = g_socket;
  auto client = jobstore::remote::Connect(address, {});
  if (!client.ok()) {
    std::fprintf(stderr, "fuzz_served: the server stopped serving: %s\n",
                 client.status().ToString().c_str());
    std::abort();
  }
  auto counts = (*client)->Counts({"", "probe"});
  if (!counts.ok()) {
    std::fprintf(stderr, "fuzz_served: a call failed: %s\n", counts.status().ToString().c_str());
    std::abort();
  }
  // Keep the store small: what the inputs pushed goes.
  auto queues = g_store->Queues();
  if (queues.ok()) {
    for (const auto& q : *queues) (void)g_store->Clear(q.queue);
  }
}

// --- the seed corpus ------------------------------------------------------------------------

std::string Frame(capnp::MessageBuilder& m) {
  kj::VectorOutputStream out;
  capnp::writeMessage(out, m);
  auto bytes = out.getArray();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

std::string Bootstrap() {
  capnp::MallocMessageBuilder b;
  b.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(0);
  return Frame(b);
}

// A call to the bootstrap capability: `fill` fills its params.
template <typename Params, typename Fill>
std::string Call(uint32_t question, uint16_t method, Fill fill) {
  capnp::MallocMessageBuilder b;
  auto call = b.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  call.initTarget().initPromisedAnswer().setQuestionId(0);
  call.setInterfaceId(capnp::typeId<jobstore::wire::Store>());
  call.setMethodId(method);
  fill(call.initParams().initContent().template initAs<Params>());
  return Frame(b);
}

void WriteCorpus(const std::string& dir) {
  using namespace jobstore::wire;
  auto queue = [](QueueRef::Builder q) { q.setType("email"); };
  std::vector<std::string> seeds;
  const std::string boot = Bootstrap();
  seeds.push_back(std::string("\0", 1) + Hello() + boot);  // raw, with its hello
  seeds.push_back("\x01" + boot + Call<Store::InfoParams>(1, 0, [](auto) {}));
  seeds.push_back("\x01" + boot + Call<Store::PushParams>(1, 1, [](auto p) {
                    auto jobs = p.initJobs(2);
                    jobs[0].setType("email");
                    jobs[0].setParams(capnp::Data::Reader(reinterpret_cast<const kj::byte*>("{}"), 2));
                    jobs[1].setType("email");
                    jobs[1].setDedup(true);
                  }) + Call<Store::ClaimParams>(2, 2, [&](auto p) {
                    queue(p.initQueue());
                    p.setMaxJobs(5);
                  }));
  seeds.push_back("\x01" + boot + Call<Store::ClaimAnyParams>(1, 3, [](auto p) {
                    p.initFilter().setAnyDomain(true);
                    p.setMaxJobs(1);
                    p.setWaitMs(50);
                  }));
  seeds.push_back("\x01" + boot + Call<Store::AckManyParams>(1, 4, [](auto p) {
                    auto c = p.initClaims(1)[0];
                    c.initQueue().setType("email");
                    c.setId(1);
                  }));
  seeds.push_back("\x01" + boot + Call<Store::ReleaseParams>(1, 5, [](auto p) {
                    p.initClaim().initQueue().setType("email");
                    p.setDelayMs(10);
                  }));
  seeds.push_back("\x01" + boot + Call<Store::ListParams>(1, 14, [&](auto p) {
                    queue(p.initQueue());
                    p.setState(JobState::READY);
                    p.setLimit(100);
                  }));
  seeds.push_back("\x01" + boot + Call<Store::SetTypeSettingsParams>(1, 22, [](auto p) {
                    p.setType("email");
                    p.initSettings().setMaxTries(3);
                  }) + Call<Store::MaintainParams>(2, 11, [](auto) {}) +
                  Call<Store::CheckParams>(3, 16, [](auto) {}));
  seeds.push_back("\x01" + boot + Call<Store::WaitForReadyParams>(1, 20, [](auto p) {
                    p.setMaxWaitMs(50);
                  }) + Call<Store::QueuesParams>(2, 13, [](auto) {}));
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir + "/seed-" + std::to_string(i), std::ios::binary) << seeds[i];
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("JOBSTORE_FUZZ_WRITE_CORPUS")) {
    WriteCorpus(dir);
    std::exit(0);
  }
  char scratch[] = "/tmp/jobstore-fuzz-served-XXXXXX";
  if (!mkdtemp(scratch)) std::abort();
  g_socket = std::string(scratch) + "/s.sock";
  g_store = jobstore::Store::Over(jobstore::NewMemoryBackend("fuzz"), {}).release();
  jobstore::ServeOptions serve;
  serve.listen = {"unix:" + g_socket};
  serve.max_message_bytes = 1 << 20;
  serve.handshake_timeout_ms = 2000;
  serve.log = [](const std::string&) {};
  auto server = jobstore::StoreServer::Start(g_store, serve);
  if (!server.ok()) {
    std::fprintf(stderr, "fuzz_served: %s\n", server.status().ToString().c_str());
    std::abort();
  }
  g_server = server->release();  // lives for the process: libFuzzer never returns
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t inputs = 0;
  const int fd = Connect();
  const bool after_hello = size > 0 && (data[0] & 1);
  const char* body = reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0);
  const size_t n = size > 0 ? size - 1 : 0;
  bool sent = true;
  if (after_hello) {
    const std::string hello = Hello();
    sent = SendAll(fd, hello.data(), hello.size());
    char reply[7];
    if (sent && read(fd, reply, sizeof reply) != static_cast<ssize_t>(sizeof reply)) sent = false;
  }
  if (sent) SendAll(fd, body, n);
  shutdown(fd, SHUT_WR);
  DrainUntilClosed(fd);
  close(fd);
  if (++inputs % 256 == 0) CheckServing();
  return 0;
}
