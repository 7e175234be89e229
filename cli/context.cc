#include "context.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "jobstore/address.h"
#include "jobstore/config.h"
#include "jobstore/rocksdb_store.h"
#include "parse.h"

namespace fs = std::filesystem;

namespace jobstore::cli {

void UsageError(std::string message) { throw CliError{kExitUsage, std::move(message)}; }
void Failure(std::string message) { throw CliError{kExitFailure, std::move(message)}; }

void FailStatus(const Status& status, const std::string& what) {
  switch (status.code()) {
    case Status::Code::kBusy:
      // The message names the holder (Status::holder_pid) and what to do.
      Failure(what + ": " + status.message() +
              " (stats, list, queues, check and export still work)");
    case Status::Code::kInvalidArgument:
      UsageError(what + ": " + status.message());
    case Status::Code::kStaleToken:
      Failure(what + ": the claim is stale (" + status.message() +
              "): its lease expired and the job was reclaimed, maybe by another worker; "
              "do not act on it, claim again");
    case Status::Code::kReadOnly:
      Failure(what + ": the store is read-only (" + status.message() + ")");
    default:
      Failure(what + ": " + status.ToString());
  }
}

Context::Context() {
  if (const char* pinned = std::getenv("JOBSTORE_TEST_NOW_MS"); pinned && *pinned) {
    int64_t ms = ParseInt("$JOBSTORE_TEST_NOW_MS", pinned, 0, INT64_MAX / 2);
    clock_ = std::make_shared<ManualClock>(ms);
  } else {
    clock_ = SystemClock();
  }
}

Context::~Context() {
  store_.reset();  // close before the scratch dir goes
  if (!scratch_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(scratch_dir_, ec);
  }
}

std::string Context::StoreAddress() const {
  if (!store_flag.empty()) return store_flag;
  if (const char* env = std::getenv("JOBSTORE_DIR"); env && *env) return env;
  return "./jobstore-data";
}

std::string Context::ConfigFile() const {
  if (!config_flag.empty()) return config_flag;
  if (const char* env = std::getenv("JOBSTORE_CONFIG"); env && *env) return env;
  return "";
}

std::string Context::StoreName() const {
  return (routed() ? "config '" : "store '") + StoreLabel() + "'";
}

std::string Context::StoreLabel() const {
  return routed() ? ConfigFile() : Redacted(StoreAddress());
}

std::vector<std::pair<std::string, std::string>> Context::DiskPaths() const {
  std::vector<std::pair<std::string, std::string>> paths;
  auto add = [&](const std::string& name, const std::string& address) {
    auto a = Address::Parse(address);
    if (a.ok() && (a->scheme == Address::Scheme::kRocksDb || a->scheme == Address::Scheme::kSqlite)) {
      paths.emplace_back(name, a->rest.empty() ? address : a->rest);
    }
  };
  if (!routed()) {
    add("", StoreAddress());
    return paths;
  }
  auto config = StoreConfig::Load(ConfigFile());
  if (config.ok()) {
    for (const auto& [name, address] : config->backends) add(name, address);
  }
  return paths;

}

std::string Context::TokenFile() const {
  if (!token_file_flag.empty()) return token_file_flag;
  if (const char* env = std::getenv("JOBSTORE_TOKEN_FILE"); env && *env) return env;
  return "";
}

namespace {

// The secret in `file`: its first line, without trailing white space. Fails the command,
// saying `how` to make one, when the file cannot be read or holds nothing.
std::string ReadSecretFile(const std::string& file, const std::string& what, const std::string& how) {
  std::ifstream in(file, std::ios::binary);
  if (!in) UsageError("cannot read the " + what + " file '" + file + "'");
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) UsageError("the " + what + " file '" + file + "' is empty; " + how);
  return secret;
}

}  // namespace

std::string Context::Token() const {
  const std::string file = TokenFile();
  if (file.empty()) return "";
  return ReadSecretFile(file, "token", "put the server's token in it (make one with 'openssl rand -hex 32 > " + file + "')");
}

std::string Context::RedisPasswordFile() const {
  if (!redis_password_file_flag.empty()) return redis_password_file_flag;
  if (const char* env = std::getenv("JOBSTORE_REDIS_PASSWORD_FILE"); env && *env) return env;
  return "";
}

Options Context::BaseOptions() const {
  Options options;
  options.clock = clock_;
  options.observer = observer;
  options.create_if_missing = false;
  options.token = Token();
  options.tls_ca_file = tls_ca_flag;
  if (const std::string file = RedisPasswordFile(); !file.empty()) {
    options.redis_password = ReadSecretFile(file, "Redis password", "put the password on its first line");
  }
  return options;
}

Result<std::unique_ptr<Store>> Context::OpenWriterAgain() const {
  Options options = BaseOptions();
  options.serve = serve;
  if (routed()) {
    auto config = StoreConfig::Load(ConfigFile());
    if (!config.ok()) return config.status();
    return OpenConfig(*config, options);
  }
  return Store::Open(StoreAddress(), options);
}

bool Context::IsDirectoryStore() const {
  if (routed()) return false;
  auto a = Address::Parse(StoreAddress());
  return a.ok() && a->scheme == Address::Scheme::kRocksDb;
}

void Context::RequireExistingStore() const {
  if (!IsDirectoryStore()) return;
  std::string dir = StoreAddress();
  std::error_code ec;
  bool exists = fs::is_directory(dir, ec);
  if (exists && fs::is_empty(dir, ec)) exists = false;
  if (!exists) {
    Failure("no store at '" + dir + "': create one with 'jobstore --store " + dir +
            " init', or point --store or $JOBSTORE_DIR at an existing store");
  }
}

std::unique_ptr<Store> Context::OpenWith(const Options& options, const std::string& what) {
  if (routed()) {
    if (!store_flag.empty()) {
      UsageError("--store and --config both name the store; give one (the config names every "
                 "backend)");
    }
    auto config = StoreConfig::Load(ConfigFile());
    if (!config.ok()) FailStatus(config.status(), what);
    auto opened = OpenConfig(*config, options);
    if (!opened.ok()) FailStatus(opened.status(), what);
    return std::move(opened).value();
  }
  auto opened = Store::Open(StoreAddress(), options);
  if (!opened.ok()) FailStatus(opened.status(), what);
  return std::move(opened).value();
}

Store& Context::Writer() {
  if (store_) return *store_;
  RequireExistingStore();
  Options options = BaseOptions();
  options.serve = serve;
  store_ = OpenWith(options, "open " + StoreName());
  return *store_;
}

bool Context::Create(bool group_may_read) {
  Options options = BaseOptions();
  options.create_if_missing = true;
  if (!IsDirectoryStore()) {
    if (group_may_read) UsageError("--group-read is for a directory store (the default medium)");
    store_ = OpenWith(options, "create " + StoreName());
    return true;
  }
  const std::string dir = StoreAddress();
  std::error_code ec;
  const bool existed = fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
  RocksDbOptions rocks;
  rocks.group_may_read = group_may_read;
  auto opened = RocksDb::Open(dir, options, rocks);
  if (!opened.ok()) FailStatus(opened.status(), "create " + StoreName());
  store_ = std::move(opened).value();
  return !existed;
}

Store& Context::Reader() {
  if (store_) return *store_;
  RequireExistingStore();
  Options options = BaseOptions();
  options.read_only = true;
  if (!IsDirectoryStore()) {
    store_ = OpenWith(options, "open " + StoreName() + " to read it");
    return *store_;
  }
  // Reads of a directory go through a secondary instance: it never takes the store's lock, so
  // a worker starting at the same moment is never refused, and it works while one runs.
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  std::string pattern = (tmp / "jobstore-secondary-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    Failure("no scratch directory for a read-only view of store '" + StoreAddress() +
            "' could be made in " + tmp.string() + "; set $TMPDIR to a writable directory");
  }
  scratch_dir_ = pattern;
  auto secondary = RocksDb::OpenSecondary(StoreAddress(), scratch_dir_, options);
  if (!secondary.ok()) {
    FailStatus(secondary.status(), "open a read-only view of store '" + StoreAddress() + "'");
  }
  store_ = std::move(secondary).value();
  return *store_;
}

}  // namespace jobstore::cli
