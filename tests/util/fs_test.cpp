// remove_tree: depth-first removal that never follows symlinks out of the tree.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "lopper/util/fs.h"

namespace lopper {
namespace {

TEST(RemoveTree, NestedFilesAndSymlinksButNotTheirTargets) {
  std::random_device rd;
  auto root = fs::temp_directory_path() / ("lopper-rmtree-" + std::to_string(rd()));
  auto outside = fs::temp_directory_path() / ("lopper-rmtree-keep-" + std::to_string(rd()));
  fs::create_directories(root / "a" / "b");
  fs::create_directories(outside);
  std::ofstream(root / "a" / "b" / "f.txt") << "x";
  std::ofstream(root / "top.txt") << "y";
  std::ofstream(outside / "keep.txt") << "z";
  fs::create_directory_symlink(outside, root / "a" / "link");
  EXPECT_TRUE(remove_tree(root));
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(outside / "keep.txt"));  // the symlink went, not what it pointed to
  EXPECT_TRUE(remove_tree(root));                 // already gone: fine
  EXPECT_TRUE(remove_tree(outside / "keep.txt"));  // a plain file
  EXPECT_FALSE(fs::exists(outside / "keep.txt"));
  EXPECT_TRUE(remove_tree(outside));
}

}  // namespace
}  // namespace lopper
