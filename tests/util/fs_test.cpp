// remove_tree: depth-first removal that never follows symlinks out of the tree. Output safety: an
// existing folder is kept unless --force, then only lopper's files are replaced; a failed, interrupted
// or full-disk write leaves the previous contents.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <vector>

#include "lopper/util/error.h"
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

// ---- Output safety: write_dir_atomic, check_output_dir, check_output_path --------------------------

// A fresh folder under /tmp holding `target` (the output) and whatever temp siblings appear next to it.
struct Sandbox {
  fs::path root;
  fs::path target;
  Sandbox() {
    std::random_device rd;
    root = fs::temp_directory_path() / ("lopper-out-" + std::to_string(rd()));
    target = root / "out";
    fs::create_directories(root);
  }
  ~Sandbox() { remove_tree(root); }
  std::vector<std::string> siblings() const {  // names next to the target (temp leftovers show here)
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

void put(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

// Relative path -> contents ("<dir>" for folders): the whole tree, to compare byte for byte.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    m[e.path().lexically_relative(dir).string()] = e.is_directory() ? "<dir>" : read_file(e.path());
  return m;
}

// An existing checkpoint-like folder with lopper's files and the user's own.
void fill_old_output(const fs::path& dir) {
  put(dir / "config.json", "old config");
  put(dir / "model-00001-of-00002.safetensors", std::string(1000, 'a'));
  put(dir / "notes.txt", "keep me");
  put(dir / "runs/a/log.txt", "keep me too");
}

DirWritePolicy forced() {
  return {true, [](const std::string& n) { return n == "config.json" || n.rfind("model", 0) == 0; }};
}

void write_new_output(const fs::path& tmp) {
  write_file_atomic(tmp / "config.json", "new config");
  write_file_atomic(tmp / "model.safetensors", "new weights");
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WriteDirAtomic, MissingTargetIsWritten) {
  Sandbox s;
  write_dir_atomic(s.target, write_new_output);
  EXPECT_EQ(read_file(s.target / "config.json"), "new config");
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});
}

TEST(WriteDirAtomic, EmptyExistingDirIsAccepted) {
  Sandbox s;
  fs::create_directory(s.target);
  write_dir_atomic(s.target / "", write_new_output);  // "out/" names the same folder
  EXPECT_EQ(snapshot(s.target).size(), 2u);
  EXPECT_EQ(read_file(s.target / "model.safetensors"), "new weights");
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});
}

TEST(WriteDirAtomic, NonEmptyDirIsRefusedWithoutForce) {
  Sandbox s;
  fill_old_output(s.target);
  auto before = snapshot(s.target);
  bool filled = false;
  auto err = error_of([&] { write_dir_atomic(s.target, [&](const fs::path&) { filled = true; }); });
  EXPECT_NE(err.find(s.target.string() + ": exists and is not empty; pass --force"), std::string::npos) << err;
  EXPECT_FALSE(filled);  // refused before any work
  EXPECT_EQ(snapshot(s.target), before);
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});
}

TEST(WriteDirAtomic, ForceReplacesLopperFilesAndKeepsTheUsers) {
  Sandbox s;
  fill_old_output(s.target);
  fs::create_symlink("notes.txt", s.target / "link");
  write_dir_atomic(s.target, write_new_output, forced());
  EXPECT_EQ(read_file(s.target / "config.json"), "new config");
  EXPECT_EQ(read_file(s.target / "model.safetensors"), "new weights");
  EXPECT_FALSE(fs::exists(s.target / "model-00001-of-00002.safetensors"));  // stale shard gone
  EXPECT_EQ(read_file(s.target / "notes.txt"), "keep me");
  EXPECT_EQ(read_file(s.target / "runs/a/log.txt"), "keep me too");
  EXPECT_TRUE(fs::is_symlink(s.target / "link"));
  EXPECT_EQ(read_file(s.target / "link"), "keep me");
  EXPECT_EQ(snapshot(s.target).size(), 7u);  // nothing else appeared
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});
}

TEST(WriteDirAtomic, ErrorDuringFillLeavesTheOldContents) {
  Sandbox s;
  fill_old_output(s.target);
  auto before = snapshot(s.target);
  auto fill = [](const fs::path& tmp) {
    std::ofstream(tmp / "config.json") << "half a fi";
    throw InputError("disk trouble");
  };
  EXPECT_EQ(error_of([&] { write_dir_atomic(s.target, fill, forced()); }), "disk trouble");
  EXPECT_EQ(snapshot(s.target), before);
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});  // the temp folder was removed
  remove_tree(s.target);
  EXPECT_EQ(error_of([&] { write_dir_atomic(s.target, fill); }), "disk trouble");
  EXPECT_TRUE(s.siblings().empty());  // a new target is not created either
}

// Runs `child` in a forked process; returns its wait status (exit 4: it threw).
template <typename F>
int in_child(F&& child) {
  pid_t pid = ::fork();
  if (pid == 0) {  // never return into the test runner from the child
    try {
      child();
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(WriteDirAtomic, KillDuringFillLeavesTheOldContents) {
  Sandbox s;
  fill_old_output(s.target);
  auto before = snapshot(s.target);
  int status = in_child([&] {
    write_dir_atomic(s.target, [](const fs::path& tmp) {
      std::ofstream out(tmp / "config.json");
      out << "partial" << std::flush;
      ::raise(SIGKILL);
    }, forced());
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(snapshot(s.target), before);  // a hidden temp sibling may remain, the target is untouched
}

TEST(WriteDirAtomic, FullDiskLeavesTheOldContents) {
  // RLIMIT_FSIZE makes writes past 4 KiB fail as on a full disk, in a child so the limit stays there.
  Sandbox s;
  fill_old_output(s.target);
  auto before = snapshot(s.target);
  int status = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto err = error_of([&] {
      write_dir_atomic(s.target, [](const fs::path& tmp) { write_file_atomic(tmp / "model.safetensors",
                                                                              std::string(1 << 20, 'w')); },
                       forced());
    });
    ::_exit(err.find("write failed") != std::string::npos ? 0 : 3);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(snapshot(s.target), before);
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"out"});
}

TEST(WriteFileAtomic, FullDiskLeavesTheOldFile) {
  Sandbox s;
  put(s.root / "f.json", "old");
  int status = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto err = error_of([&] { write_file_atomic(s.root / "f.json", std::string(1 << 20, 'w')); });
    ::_exit(err.find("f.json: write failed") != std::string::npos ? 0 : 3);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(read_file(s.root / "f.json"), "old");
  EXPECT_EQ(s.siblings(), std::vector<std::string>{"f.json"});
}

TEST(CheckOutputDir, RefusesWhatCannotBeWritten) {
  Sandbox s;
  EXPECT_NO_THROW(check_output_dir(s.target, false));  // missing
  fs::create_directory(s.target);
  EXPECT_NO_THROW(check_output_dir(s.target, false));  // empty
  put(s.target / "notes.txt", "x");
  EXPECT_NE(error_of([&] { check_output_dir(s.target, false); }).find("pass --force"), std::string::npos);
  EXPECT_NO_THROW(check_output_dir(s.target, true));
  put(s.root / "file", "x");
  EXPECT_NE(error_of([&] { check_output_dir(s.root / "file", true); }).find("is not a directory"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_dir(s.root / "no/such/out", true); }).find("does not exist"),
            std::string::npos);
}

TEST(CheckOutputPath, ExistingFileNeedsForceAndFolderIsRefused) {
  Sandbox s;
  auto file = s.root / "model.gguf";
  EXPECT_NO_THROW(check_output_path(file, false, "--out"));
  put(file, "x");
  EXPECT_EQ(error_of([&] { check_output_path(file, false, "--out"); }),
            "--out " + file.string() + ": already exists; pass --force to replace it");
  EXPECT_NO_THROW(check_output_path(file, true, "--out"));
  fs::create_directory(s.target);
  EXPECT_NE(error_of([&] { check_output_path(s.target, true, nullptr); }).find(s.target.string() + ": is a directory"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_path(s.root / "no/such/f", false, "--out"); }).find("does not exist"),
            std::string::npos);
  EXPECT_EQ(read_file(file), "x");
}

}  // namespace
}  // namespace lopper
