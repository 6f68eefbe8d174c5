// Corrupt or inconsistent checkpoints must give one clear error line naming the file or tensor,
// never a crash. Also built under ASan/UBSan (CTest label "asan").
#include <gtest/gtest.h>

#include <fstream>

#include "lopper/io/safetensors.h"
#include "lopper/model/model.h"
#include "lopper/util/error.h"
#include "model/tiny_model.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("bad");
    test::write_tiny_model(dir_, test::tiny_config_json());
  }
  void TearDown() override { remove_tree(dir_); }

  // Loads and returns the error message; fails the test if loading succeeds or crashes otherwise.
  std::string load_error() {
    try {
      Model::load(dir_);
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
      return msg;
    }
    ADD_FAILURE() << "loading succeeded";
    return "";
  }
  std::string bytes() { return read_file(dir_ / "model.safetensors"); }
  void put(const std::string& b) {
    std::ofstream(dir_ / "model.safetensors", std::ios::binary | std::ios::trunc) << b;
  }
  // Rewrites the safetensors header (keeps the data section).
  void set_header(const std::string& header, const std::string& data) {
    uint64_t n = header.size();
    put(std::string(reinterpret_cast<const char*>(&n), 8) + header + data);
  }
  std::pair<nlohmann::json, std::string> header_and_data() {
    auto b = bytes();
    uint64_t n;
    std::memcpy(&n, b.data(), 8);
    return {nlohmann::json::parse(b.substr(8, n)), b.substr(8 + n)};
  }
  fs::path dir_;
};

TEST_F(BadInput, TinyModelLoads) { EXPECT_NO_THROW(Model::load(dir_)); }

TEST_F(BadInput, TruncatedFile) {
  put(bytes().substr(0, 5));
  EXPECT_NE(load_error().find("model.safetensors: truncated"), std::string::npos);
}

TEST_F(BadInput, TruncatedData) {
  auto b = bytes();
  put(b.substr(0, b.size() - 100));
  auto msg = load_error();
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor \""), std::string::npos) << msg;
}

TEST_F(BadInput, HeaderLengthBeyondFile) {
  auto b = bytes();
  uint64_t n = b.size();
  std::memcpy(b.data(), &n, 8);
  put(b);
  EXPECT_NE(load_error().find("runs past the end"), std::string::npos);
}

TEST_F(BadInput, HugeHeaderLength) {
  auto b = bytes();
  uint64_t n = ~uint64_t{0} - 3;
  std::memcpy(b.data(), &n, 8);
  put(b);
  EXPECT_NE(load_error().find("implausible"), std::string::npos);
}

TEST_F(BadInput, HeaderNotJson) {
  auto [h, data] = header_and_data();
  set_header("{\"a\": [1, 2", data);
  EXPECT_NE(load_error().find("not valid JSON"), std::string::npos);
}

TEST_F(BadInput, OverlappingOffsets) {
  auto [h, data] = header_and_data();
  auto& q = h["model.layers.0.self_attn.q_proj.weight"];
  auto& k = h["model.layers.0.self_attn.k_proj.weight"];
  // k_proj [16, 32] f32 = 2048 bytes; make it start inside q_proj's range.
  uint64_t qb = q["data_offsets"][0];
  k["data_offsets"] = {qb + 4, qb + 4 + 2048};
  set_header(h.dump(), data);
  EXPECT_NE(load_error().find("overlap"), std::string::npos);
}

TEST_F(BadInput, OffsetsOutOfRange) {
  auto [h, data] = header_and_data();
  h["model.norm.weight"]["data_offsets"] = {data.size() + 8, data.size() + 8 + 128};
  set_header(h.dump(), data);
  auto msg = load_error();
  EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST_F(BadInput, OffsetsDisagreeWithShape) {
  auto [h, data] = header_and_data();
  auto& e = h["model.norm.weight"];
  uint64_t b0 = e["data_offsets"][0];
  e["data_offsets"] = {b0, b0 + 12};
  set_header(h.dump(), data);
  EXPECT_NE(load_error().find("need 128"), std::string::npos);
}

TEST_F(BadInput, ShapeContradictsConfig) {
  auto cfg = test::tiny_config_json();
  cfg["intermediate_size"] = 48;
  write_file_atomic(dir_ / "config.json", cfg.dump());
  auto msg = load_error();
  EXPECT_NE(msg.find("mlp.gate_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config.json implies [48, 32]"), std::string::npos) << msg;
}

TEST_F(BadInput, DtypeContradictsConfig) {
  auto [h, data] = header_and_data();
  h["model.norm.weight"]["dtype"] = "I32";  // same byte size as F32, not a weight dtype
  set_header(h.dump(), data);
  auto msg = load_error();
  EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("I32"), std::string::npos) << msg;
}

TEST_F(BadInput, UnknownDtype) {
  auto [h, data] = header_and_data();
  h["model.norm.weight"]["dtype"] = "F8_E9M9";
  set_header(h.dump(), data);
  try {
    Model::load(dir_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("F8_E9M9"), std::string::npos);
  }
}

TEST_F(BadInput, ExtraLayerContradictsConfig) {
  auto cfg = test::tiny_config_json();
  cfg["num_hidden_layers"] = 2;
  write_file_atomic(dir_ / "config.json", cfg.dump());
  EXPECT_NE(load_error().find("unexpected tensor \"model.layers.2."), std::string::npos);
}

TEST_F(BadInput, MissingTensor) {
  auto cfg = test::tiny_config_json();
  cfg["attention_bias"] = true;
  write_file_atomic(dir_ / "config.json", cfg.dump());
  EXPECT_NE(load_error().find("self_attn.q_proj.bias\" is missing"), std::string::npos);
}

TEST_F(BadInput, ConfigNotJson) {
  write_file_atomic(dir_ / "config.json", "{\"vocab_size\": 64,");
  auto msg = load_error();
  EXPECT_NE(msg.find("config.json: not valid JSON"), std::string::npos) << msg;
}

TEST_F(BadInput, MissingConfig) {
  fs::remove(dir_ / "config.json");
  EXPECT_NE(load_error().find("config.json: file not found"), std::string::npos);
}

TEST_F(BadInput, MissingShard) {
  auto [h, data] = header_and_data();
  nlohmann::json index;
  index["weight_map"] = nlohmann::json::object();
  for (auto& [name, v] : h.items())
    if (name != "__metadata__") index["weight_map"][name] = name.find("layers.2") != std::string::npos
                                                               ? "model-00002-of-00002.safetensors"
                                                               : "model.safetensors";
  write_file_atomic(dir_ / "model.safetensors.index.json", index.dump());
  auto msg = load_error();
  EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(BadInput, NoWeights) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_NE(load_error().find("no model.safetensors"), std::string::npos);
}

TEST_F(BadInput, UnsupportedArchitecture) {
  auto cfg = test::tiny_config_json("GPTNeoXForCausalLM");
  write_file_atomic(dir_ / "config.json", cfg.dump());
  try {
    Model::load(dir_);
    FAIL();
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("supported: LlamaForCausalLM"), std::string::npos);
  }
}

TEST_F(BadInput, RandomGarbageNeverCrashes) {
  // Flip bytes in the header region: every outcome must be a clean exception or a valid load.
  auto good = bytes();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    auto b = good;
    for (int k = 0; k < 3; ++k) b[8 + rng() % 200] = static_cast<char>(rng());
    put(b);
    try {
      Model::load(dir_);
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace lopper
