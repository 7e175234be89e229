// The conformance suite on PostgreSQL 15: one server for the binary (tests/support/
// postgres_server.h), a fresh schema for each test.
#include "support/sql_media.h"

namespace jobstore::testing {
namespace {

const RegisterMedium kPostgres(PostgresMedium());

}  // namespace
}  // namespace jobstore::testing
