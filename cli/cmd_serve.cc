// serve: hold a store and serve it to other processes (docs/DESIGN.md §11) until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "commands.h"
#include "http_option.h"
#include "jobstore/address.h"
#include "jobstore/rocksdb_store.h"
#include "jobstore/serve.h"
#include "parse.h"

namespace jobstore::cli {
namespace {

struct ServeArgs {
  std::vector<std::string> listen;
  std::string tls_cert, tls_key, maintain_every = "1s";
  HttpArgs http;
};

void RunServe(Context& ctx, const ServeArgs& a) {
  if (ctx.routed()) {
    UsageError("serve: a config routes types to several stores; serve each store on its own "
               "(--store DIR)");
  }
  const std::string address = ctx.StoreAddress();
  auto parsed = Address::Parse(address);
  if (!parsed.ok()) FailStatus(parsed.status(), "serve");
  if (parsed->scheme == Address::Scheme::kUnix || parsed->scheme == Address::Scheme::kTcp) {
    UsageError("serve: '" + Redacted(address) + "' is a served store already; give the store "
               "itself (--store DIR)");
  }
  const bool directory = parsed->scheme == Address::Scheme::kRocksDb;
  ServeOptions serve;
  if (directory) serve.listen.push_back("unix:" + ServedSocketPath(address));
  for (const std::string& l : a.listen) serve.listen.push_back(l);
  if (serve.listen.empty()) {
    UsageError("serve: '" + Redacted(address) + "' is not a directory, so there is no default "
               "socket; give --listen unix:PATH or --listen tcp:HOST:PORT");
  }
  serve.token = ctx.Token();
  serve.tls_cert_file = a.tls_cert;
  serve.tls_key_file = a.tls_key;

  // Block the stop signals in every thread (RocksDB's and the server's inherit the mask), so
  // that sigwait below takes them and nothing else does.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  // serve holds the store itself: it never connects to another process that does.
  Options options;
  options.clock = ctx.clock();
  std::shared_ptr<Metrics> metrics = ObserveForHttp(ctx, a.http);
  options.observer = metrics;
  options.create_if_missing = false;
  options.maintenance_interval_ms = ParseDurationMs("--maintain-every", a.maintain_every);
  std::unique_ptr<Store> store;
  if (directory) {
    auto opened = RocksDb::Open(address, options);
    if (!opened.ok()) {
      if (opened.status().IsBusy()) {
        Failure("serve: store '" + address + "' is held by " +
                (opened.status().holder_pid()
                     ? "process " + std::to_string(opened.status().holder_pid())
                     : std::string("another process")) +
                "; it may be serving it already (clients connect to " +
                ServedSocketPath(address) + " by themselves); stop it first to serve it here");
      }
      FailStatus(opened.status(), "serve: open store '" + address + "'");
    }
    store = std::move(opened).value();
  } else {
    auto opened = Store::Open(address, options);
    if (!opened.ok()) FailStatus(opened.status(), "serve: open store '" + Redacted(address) + "'");
    store = std::move(opened).value();
  }
  auto server = StoreServer::Start(store.get(), serve);
  if (!server.ok()) FailStatus(server.status(), "serve");
  std::unique_ptr<StatusServer> http = StartHttp(ctx, *store, a.http, metrics);

  std::string where;
  for (const std::string& l : (*server)->addresses()) where += (where.empty() ? "" : ", ") + l;
  Report(ctx,
         "serving store '" + Redacted(address) + "' on " + where + " (process " +
             std::to_string(getpid()) + "); stop with Ctrl-C or SIGTERM",
         OJson{{"serving", Redacted(address)},
               {"addresses", (*server)->addresses()},
               {"pid", getpid()}});
  std::cout.flush();

  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  std::cerr << "jobstore serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
            << ": finishing the calls in flight, then closing the store\n";
  http.reset();
  (*server)->Stop();
  const ServerStats stats = (*server)->stats();
  server->reset();
  store.reset();  // a clean close
  Report(ctx, "stopped: " + CountOf(stats.calls, "call") + " answered over " +
                  CountOf(stats.connections_accepted, "connection") + " (" +
                  std::to_string(stats.connections_refused) + " refused)",
         OJson{{"stopped", true},
               {"calls", stats.calls},
               {"connections", stats.connections_accepted},
               {"refused", stats.connections_refused}});
}

}  // namespace

void AddServeCommand(CommandSet& set) {
  Context& ctx = set.ctx();
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = set.Add(
      "serve",
      "Hold the store and serve it to other processes until Ctrl-C or SIGTERM.\n"
      "A directory store is served on DIR/jobstore.sock (mode 0600; only this user and root\n"
      "may connect), and every jobstore command given --store DIR then goes through this\n"
      "process. --listen tcp:HOST:PORT serves over TCP too: clients must give the token in\n"
      "--token-file; an address other than loopback also needs --tls-cert and --tls-key.\n"
      "On a signal, calls in flight finish and the store is closed cleanly. 'jobstore run'\n"
      "serves the store the same way while it runs. --http serves metrics and the status\n"
      "page, as run --http does.",
      {"serve", "serve --store /var/lib/jobs",
       "--token-file /etc/jobstore/token serve --listen tcp:127.0.0.1:7300",
       "--token-file token serve --listen tcp:0.0.0.0:7300 --tls-cert cert.pem --tls-key key.pem",
       "serve --http 127.0.0.1:9187 --http-token-file /etc/jobstore/http-token"},
      [&ctx, a] { RunServe(ctx, *a); });
  cmd->add_option("--listen", a->listen,
                  "also listen here: unix:PATH or tcp:HOST:PORT (repeatable)")
      ->type_name("ADDR");
  cmd->add_option("--tls-cert", a->tls_cert, "TLS certificate (PEM) for the tcp: listeners")
      ->type_name("FILE");
  cmd->add_option("--tls-key", a->tls_key, "its private key (PEM)")->type_name("FILE");
  cmd->add_option("--maintain-every", a->maintain_every,
                  "run maintenance (promote delayed jobs, reclaim expired claims) this often "
                  "(default 1s; 0: never)")
      ->type_name("SECONDS");
  AddHttpOptions(cmd, a->http);
}

}  // namespace jobstore::cli
