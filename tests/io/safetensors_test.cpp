// The writer's output follows the rules the Python `safetensors` package enforces when loading
// (it is not installable here): JSON header padded to 8 bytes, "__metadata__" with "format": "pt"
// (transformers requires it), tensors covering the data section contiguously with no gaps or
// overlaps, and byte spans equal to shape x dtype size. Round trip is bit-identical.
#include "lopper/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "lopper/util/fs.h"
#include "lopper/util/error.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

TEST(Safetensors, WriterFollowsTheFormatRules) {
  auto dir = test::temp_dir("st");
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"b.bf16", at::randn({3, 5}).to(at::kBFloat16)},
      {"a.f32", at::randn({7})},
      {"c.f16", at::randn({2, 2, 3}).to(at::kHalf)},
      {"d.empty", at::empty({0, 4})},
      {"e.i64", at::arange(5, at::kLong)},
  };
  write_safetensors(dir / "t.safetensors", tensors, {{"note", "x"}});
  auto bytes = read_file(dir / "t.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto h = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(h["__metadata__"]["format"], "pt");
  EXPECT_EQ(h["__metadata__"]["note"], "x");
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto& [name, e] : h.items())
    if (name != "__metadata__") spans.emplace_back(e["data_offsets"][0], e["data_offsets"][1]);
  std::sort(spans.begin(), spans.end());
  uint64_t pos = 0;
  for (auto [b, e] : spans) {
    EXPECT_EQ(b, pos);
    pos = e;
  }
  EXPECT_EQ(pos, bytes.size() - 8 - n);

  auto f = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(f->metadata().at("format"), "pt");
  for (const auto& [name, t] : tensors) {
    auto back = f->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(back.equal(t)) << name;
  }
  EXPECT_THROW(write_safetensors(dir / "dup.safetensors", {{"x", tensors[0].second}, {"x", tensors[1].second}}),
               InputError);
  EXPECT_FALSE(std::filesystem::exists(dir / "dup.safetensors"));
  remove_tree(dir);
}

TEST(Safetensors, ReadsSharedCheckpointZeroCopy) {
  auto f = SafetensorsFile::open(test::bundled_model() / "model.safetensors");
  auto t = f->tensor("model.embed_tokens.weight");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{512, 64}));
  auto t2 = f->tensor("model.embed_tokens.weight");
  EXPECT_EQ(t.data_ptr(), t2.data_ptr());  // both view the mapping
}

}  // namespace
}  // namespace lopper
