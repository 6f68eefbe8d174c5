#include "lopper/hub/checksum.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "lopper/util/error.h"

namespace lopper::hub {

namespace {

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1) throw Error("OpenSSL: cannot start a digest");
  }
  void update(const void* data, size_t n) {
    if (EVP_DigestUpdate(ctx_.get(), data, n) != 1) throw Error("OpenSSL: digest update failed");
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out, &n) != 1) throw Error("OpenSSL: digest final failed");
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += digits[out[i] >> 4];
      s += digits[out[i] & 15];
    }
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Streams the file through `d` in 1 MiB reads (weights are gigabytes: never whole in memory).
void update_from_file(Digest& d, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open for reading", path.string());
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    d.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail("{}: read error", path.string());
}

std::string blob_header(uintmax_t size) { return "blob " + std::to_string(size) + std::string(1, '\0'); }

}  // namespace

std::string sha256_hex(std::string_view data) {
  Digest d(EVP_sha256());
  d.update(data.data(), data.size());
  return d.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  Digest d(EVP_sha256());
  update_from_file(d, path);
  return d.hex();
}

std::string git_blob_sha1_hex(std::string_view data) {
  Digest d(EVP_sha1());
  auto h = blob_header(data.size());
  d.update(h.data(), h.size());
  d.update(data.data(), data.size());
  return d.hex();
}

std::string git_blob_sha1_file(const std::filesystem::path& path) {
  Digest d(EVP_sha1());
  auto h = blob_header(std::filesystem::file_size(path));
  d.update(h.data(), h.size());
  update_from_file(d, path);
  return d.hex();
}

}  // namespace lopper::hub
