// The conformance suite on SQLite: a database file in the test's scratch directory.
#include "support/sql_media.h"

namespace jobstore::testing {
namespace {

const RegisterMedium kSqlite(SqliteMedium());

}  // namespace
}  // namespace jobstore::testing
