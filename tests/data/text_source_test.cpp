#include "lopper/data/text_source.h"

#include <gtest/gtest.h>

#include "data/data_test_util.h"
#include "lopper/data/pystr.h"

namespace lopper {
namespace {

using test::gzip_bytes;
using test::input_error_of;
using test::TempDir;
using test::write_bytes;

// ---- Python string semantics ----

TEST(PyStr, StripMatchesPythonWhitespace) {
  // Every character Python's str.strip() removes, at both ends (U+0085, U+00A0, U+3000 included).
  EXPECT_EQ(python_strip(" \t\n\v\f\r\x1c\x1f\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
                         "a b\u3000\u00a0 \n"),
            "a b");
  // Not whitespace for Python: zero-width space, BOM, word joiner.
  EXPECT_EQ(python_strip("\u200bx\ufeff"), "\u200bx\ufeff");
  EXPECT_EQ(python_strip("\u2060 x"), "\u2060 x");
  EXPECT_EQ(python_strip(" \u3000 "), "");
  EXPECT_EQ(python_strip(""), "");
  // A multi-byte character ending in a byte that looks like ASCII whitespace would not exist in
  // UTF-8; check a non-space character whose last byte is 0x85 (U+0145) is kept.
  EXPECT_EQ(python_strip("\u0145"), "\u0145");
  EXPECT_TRUE(python_isblank(" \n\u00a0"));
  EXPECT_FALSE(python_isblank(" . "));
}

TEST(PyStr, LinesUseUniversalNewlines) {
  EXPECT_EQ(python_lines("a\nb\r\nc\rd"), (std::vector<std::string>{"a\n", "b\n", "c\n", "d"}));
  EXPECT_EQ(python_lines("\n\n"), (std::vector<std::string>{"\n", "\n"}));
  EXPECT_TRUE(python_lines("").empty());
  // U+2028 is a line break for str.splitlines() but not for file iteration.
  EXPECT_EQ(python_lines("a\u2028b\n").size(), 1u);
}

TEST(PyStr, Utf8CheckAndCodePoints) {
  EXPECT_EQ(count_code_points("a\u00e9\u4e2d\U0002000b"), 4);
  EXPECT_NO_THROW(check_utf8("ok \u00e9 \U0010ffff", "x"));
  std::string msg = input_error_of([] { check_utf8("line1\nline2 \xff", "f.txt"); });
  EXPECT_NE(msg.find("f.txt: invalid UTF-8 at line 2, byte offset 12"), std::string::npos) << msg;
  EXPECT_THROW(check_utf8("\xc0\xaf", "x"), InputError);          // overlong '/'
  EXPECT_THROW(check_utf8("\xed\xa0\x80", "x"), InputError);      // surrogate U+D800
  EXPECT_THROW(check_utf8("\xf4\x90\x80\x80", "x"), InputError);  // > U+10FFFF
  EXPECT_THROW(check_utf8("\xe4\xb8", "x"), InputError);          // truncated
}

TEST(PyStr, Join) {
  EXPECT_EQ(join({"a", "", "b"}, "\n\n"), "a\n\n\n\nb");
  EXPECT_EQ(join({}, " "), "");
}

// ---- files ----

TEST(TextSource, PlainTextIsTheWholeFile) {
  TempDir tmp;
  write_bytes(tmp / "a.txt", "first line\n\nsecond\n");
  int64_t docs = 0;
  EXPECT_EQ(read_text_file(tmp / "a.txt", kUserDocumentJoiner, &docs), "first line\n\nsecond\n");
  EXPECT_EQ(docs, 1);
}

TEST(TextSource, GzipRoundTripTxtAndJsonl) {
  TempDir tmp;
  const std::string text = "caf\u00e9 \u4e2d\u6587\n" + std::string(100000, 'x') + "\n";
  write_bytes(tmp / "a.txt.gz", gzip_bytes(text));
  EXPECT_EQ(read_text_file(tmp / "a.txt.gz"), text);
  // Detected by magic bytes even without the suffix.
  write_bytes(tmp / "b.txt", gzip_bytes(text));
  EXPECT_EQ(read_text_file(tmp / "b.txt"), text);

  write_bytes(tmp / "d.jsonl.gz", gzip_bytes("{\"text\": \"one\", \"id\": 1}\n\n{\"text\": \"two\\nlines\"}\n"));
  int64_t docs = 0;
  EXPECT_EQ(read_text_file(tmp / "d.jsonl.gz", kUserDocumentJoiner, &docs), "one\n\ntwo\nlines");
  EXPECT_EQ(docs, 2);
}

TEST(TextSource, MultiMemberGzip) {
  TempDir tmp;
  write_bytes(tmp / "m.txt.gz", gzip_bytes("part one, ") + gzip_bytes("part two"));
  EXPECT_EQ(read_text_file(tmp / "m.txt.gz"), "part one, part two");
}

TEST(TextSource, JsonArrayAndC4StyleShard) {
  TempDir tmp;
  write_bytes(tmp / "arr.json", "[\"alpha\", {\"text\": \"beta\", \"url\": \"u\"}]");
  EXPECT_EQ(read_text_file(tmp / "arr.json", " "), "alpha beta");
  // C4 validation shards: named .json.gz, one object per line.
  write_bytes(tmp / "c4-validation.00000-of-00008.json.gz",
              gzip_bytes("{\"text\":\"doc a\",\"timestamp\":\"t\",\"url\":\"u\"}\n{\"text\":\"doc b\"}\n"));
  EXPECT_EQ(read_text_file(tmp / "c4-validation.00000-of-00008.json.gz", " "), "doc a doc b");
}

TEST(TextSource, JsonlErrorsNameFileAndLine) {
  TempDir tmp;
  auto path = tmp / "bad.jsonl";
  write_bytes(path, "{\"text\": \"ok\"}\n\n{\"text\": oops}\n");
  std::string msg = input_error_of([&] { read_text_file(path); });
  EXPECT_NE(msg.find(path.string() + ":3: not valid JSON"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line message";

  write_bytes(path, "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n");
  msg = input_error_of([&] { read_text_file(path); });
  EXPECT_NE(msg.find(path.string() + ":2: no \"text\" field"), std::string::npos) << msg;

  write_bytes(path, "{\"text\": 5}\n");
  msg = input_error_of([&] { read_text_file(path); });
  EXPECT_NE(msg.find(":1: \"text\" is a number"), std::string::npos) << msg;

  write_bytes(path, "[\"a\"]\n");  // an array on one line of a .jsonl is read as a JSON array
  EXPECT_EQ(read_text_file(path), "a");
  write_bytes(path, "\"just a string\"\n");
  msg = input_error_of([&] { read_text_file(path); });
  EXPECT_NE(msg.find(":1: expected a JSON object"), std::string::npos) << msg;

  write_bytes(tmp / "arr.json", "[\"a\", 3]");
  msg = input_error_of([&] { read_text_file(tmp / "arr.json"); });
  EXPECT_NE(msg.find("element 1"), std::string::npos) << msg;
  write_bytes(tmp / "arr.json", "[\"a\", ");
  msg = input_error_of([&] { read_text_file(tmp / "arr.json"); });
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;

  write_bytes(path, "{\"text\": \"bad \xff utf8\"}\n");
  msg = input_error_of([&] { read_text_file(path); });
  EXPECT_NE(msg.find(":1: not valid JSON"), std::string::npos) << msg;
}

TEST(TextSource, EmptyInputsAreErrors) {
  TempDir tmp;
  write_bytes(tmp / "empty.txt", "");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "empty.txt"); }).find("contains no text"),
            std::string::npos);
  write_bytes(tmp / "blank.txt", " \n\t\n");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "blank.txt"); }).find("contains no text"),
            std::string::npos);
  write_bytes(tmp / "empty.jsonl", "\n\n");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "empty.jsonl"); }).find("no documents"), std::string::npos);
  write_bytes(tmp / "emptydoc.jsonl", "{\"text\": \"\"}\n");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "emptydoc.jsonl"); }).find("contains no text"),
            std::string::npos);
}

TEST(TextSource, BadFilesAreErrors) {
  TempDir tmp;
  auto missing = tmp / "missing.txt";
  EXPECT_NE(input_error_of([&] { read_text_file(missing); }).find(missing.string()), std::string::npos);

  write_bytes(tmp / "plain.txt.gz", "not compressed");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "plain.txt.gz"); }).find("not a gzip file"),
            std::string::npos);

  std::string gz = gzip_bytes(std::string(5000, 'a') + "some text to compress " + std::string(5000, 'b'));
  write_bytes(tmp / "trunc.txt.gz", gz.substr(0, gz.size() / 2));
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "trunc.txt.gz"); }).find("truncated gzip"),
            std::string::npos);

  std::string corrupt = gz;
  for (size_t i = 12; i < 24; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  write_bytes(tmp / "corrupt.txt.gz", corrupt);
  std::string msg = input_error_of([&] { read_text_file(tmp / "corrupt.txt.gz"); });
  EXPECT_NE(msg.find("corrupt.txt.gz"), std::string::npos) << msg;
  EXPECT_TRUE(msg.find("corrupt gzip") != std::string::npos || msg.find("truncated gzip") != std::string::npos)
      << msg;

  write_bytes(tmp / "trailing.txt.gz", gz + "junk");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "trailing.txt.gz"); }).find("after the end of the gzip"),
            std::string::npos);

  write_bytes(tmp / "latin1.txt", "caf\xe9\n");
  EXPECT_NE(input_error_of([&] { read_text_file(tmp / "latin1.txt"); }).find("invalid UTF-8 at line 1"),
            std::string::npos);
}

}  // namespace
}  // namespace lopper
