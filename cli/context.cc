#include "context.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "parse.h"

namespace fs = std::filesystem;

namespace jobstore::cli {

void UsageError(std::string message) { throw CliError{kExitUsage, std::move(message)}; }
void Failure(std::string message) { throw CliError{kExitFailure, std::move(message)}; }

std::string BusyMessage(const Status& status) {
  const std::string& m = status.message();
  size_t p = m.find_first_of("0123456789");
  if (p == std::string::npos) return "store in use by another process (" + m + ")";
  size_t e = m.find_first_not_of("0123456789", p);
  return "store in use by process " + m.substr(p, e == std::string::npos ? e : e - p);
}

void FailStatus(const Status& status, const std::string& what) {
  switch (status.code()) {
    case Status::Code::kBusy:
      Failure(BusyMessage(status) +
              ": stop it first, or use a read-only command (stats, list, queues, check, export)");
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

std::string Context::StoreDir() const {
  if (!store_flag.empty()) return store_flag;
  if (const char* env = std::getenv("JOBSTORE_DIR"); env && *env) return env;
  return "./jobstore-data";
}

Options Context::BaseOptions() const {
  Options options;
  options.clock = clock_;
  options.create_if_missing = false;
  return options;
}

void Context::RequireExistingStore() const {
  std::string dir = StoreDir();
  std::error_code ec;
  bool exists = fs::is_directory(dir, ec);
  if (exists && fs::is_empty(dir, ec)) exists = false;
  if (!exists) {
    Failure("no store at '" + dir + "': create one with 'jobstore --store " + dir +
            " init', or point --store or $JOBSTORE_DIR at an existing store");
  }
}

Store& Context::Writer() {
  if (store_) return *store_;
  RequireExistingStore();
  auto opened = Store::Open(BaseOptions(), StoreDir());
  if (!opened.ok()) FailStatus(opened.status(), "open store '" + StoreDir() + "'");
  store_ = std::move(opened).value();
  return *store_;
}

bool Context::Create() {
  std::string dir = StoreDir();
  std::error_code ec;
  bool existed = fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
  Options options = BaseOptions();
  options.create_if_missing = true;
  auto opened = Store::Open(options, dir);
  if (!opened.ok()) FailStatus(opened.status(), "create store '" + dir + "'");
  store_ = std::move(opened).value();
  return !existed;
}

Store& Context::Reader() {
  if (store_) return *store_;
  RequireExistingStore();
  Options options = BaseOptions();
  options.read_only = true;
  // Reads always go through a secondary instance: it never takes the store's lock, so a worker
  // starting at the same moment is never refused, and it works while one runs.
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  std::string pattern = (tmp / "jobstore-secondary-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    Failure("no scratch directory for a read-only view of store '" + StoreDir() +
            "' could be made in " + tmp.string() +
            "; set $TMPDIR to a writable directory");
  }
  scratch_dir_ = pattern;
  auto secondary = Store::OpenSecondary(options, StoreDir(), scratch_dir_);
  if (!secondary.ok()) {
    FailStatus(secondary.status(), "open a read-only view of store '" + StoreDir() + "'");
  }
  store_ = std::move(secondary).value();
  return *store_;
}

}  // namespace jobstore::cli
