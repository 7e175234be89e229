// A store's files are private: it holds whatever its jobs carry (addresses, tokens, personal
// data). Its directory is 0700, or 0750 when its group may read (as PostgreSQL's data
// directory), and its files 0600 (0640 with the group), whatever the umask.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "jobstore/status.h"

namespace rocksdb {
class Env;
class FileSystem;
}

namespace jobstore {

// The mode a store's files get.
inline mode_t StoreFileMode(bool group_may_read) { return group_may_read ? 0640 : 0600; }

// Gives `dir` the store directory's mode (0700, or 0750 with `group_may_read`).
Status MakeStoreDirectory(const std::string& dir, bool group_may_read);

// Whether the store in `dir` lets its group read: its directory has the group's read bit.
bool GroupMayRead(const std::string& dir);

// Writes `content` to a new (or truncated) file of mode `mode`, whatever the umask.
Status WritePrivateFile(const std::filesystem::path& path, const std::string& content,
                        mode_t mode);

// An Env whose file system gives every file RocksDB creates (tables, logs, the manifest, the
// lock, the info log) mode `mode`: RocksDB creates them 0644 less the umask, and its own
// Env::SetAllowNonOwnerAccess no longer reaches the file system that creates them (7.8).
// Threads are Env::Default()'s.
std::unique_ptr<rocksdb::Env> NewPrivateEnv(mode_t mode);
// The file system of NewPrivateEnv over `target` (for tests that put a fault below it).
std::shared_ptr<rocksdb::FileSystem> NewPrivateFileSystem(std::shared_ptr<rocksdb::FileSystem> target,
                                                          mode_t mode);

}  // namespace jobstore
