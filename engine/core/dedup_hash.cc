#include "dedup_hash.h"

#include <openssl/evp.h>

namespace jobstore {

std::string DedupHash(std::string_view type, std::string_view params) {
  // Type names never contain NUL, so (type, NUL, params) is unambiguous.
  std::string input;
  input.reserve(type.size() + 1 + params.size());
  input.append(type).push_back('\0');
  input.append(params);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace jobstore
