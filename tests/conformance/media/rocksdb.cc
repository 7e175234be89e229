// The conformance suite on RocksDB: a store directory in the test's scratch directory.
#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

const RegisterMedium kRocksDb({
    .name = "RocksDb",
    .persistent = true,
    .make = [](const std::string& scratch) -> std::unique_ptr<MediumInstance> {
      return std::make_unique<AddressInstance>(scratch + "/store");
    },
});

}  // namespace
}  // namespace jobstore::testing
