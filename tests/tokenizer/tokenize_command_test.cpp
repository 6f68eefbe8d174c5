// `lopper tokenize` at library level: the JSON report and option checks.
#include <gtest/gtest.h>

#include <filesystem>

#include "lopper/tokenizer/tokenize_command.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "test_paths.h"

namespace lopper {
namespace {

TEST(TokenizeCommandTest, ReportAndJsonFile) {
  const auto out = std::filesystem::temp_directory_path() / "lopper_tokenize_command_test.json";
  TokenizeOptions options;
  options.model_dir = test::bundled_model();
  options.text = "Once upon a time";
  options.json_out = out;
  const auto result = run_tokenize(options);
  EXPECT_EQ(result.at("ids"), nlohmann::json({1, 403, 407, 261, 378}));
  EXPECT_EQ(result.at("decoded"), "Once upon a time");
  EXPECT_EQ(result.at("tokens").at(0), "<s>");
  EXPECT_EQ(nlohmann::json::parse(read_file(out)), result);
  EXPECT_EQ(format_tokenize_report(result),
            "ids (5): [1, 403, 407, 261, 378]\ndecoded: Once upon a time\n");
  std::filesystem::remove(out);

  options.json_out.reset();
  options.add_special_tokens = false;
  options.text = "";  // an empty text is valid input
  EXPECT_EQ(run_tokenize(options).at("ids"), nlohmann::json::array());
}

TEST(TokenizeCommandTest, NeedsExactlyOneInput) {
  TokenizeOptions options;
  options.model_dir = test::bundled_model();
  EXPECT_THROW(run_tokenize(options), InputError);
  options.text = "a";
  options.file = "b";
  EXPECT_THROW(run_tokenize(options), InputError);
}

}  // namespace
}  // namespace lopper
