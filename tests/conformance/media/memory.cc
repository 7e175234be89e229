// The conformance suite on the in-memory medium: every Open is a new, empty store.
#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

const RegisterMedium kMemory({
    .name = "Memory",
    .persistent = false,
    .make = [](const std::string&) -> std::unique_ptr<MediumInstance> {
      return std::make_unique<AddressInstance>("memory:conformance");
    },
});

}  // namespace
}  // namespace jobstore::testing
