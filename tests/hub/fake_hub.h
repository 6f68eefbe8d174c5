// A fake Hugging Face hub for the hub tests, in the test process, on loopback only: cpp-httplib
// servers at kernel-picked ports serving /api/models/{repo}/revision/{rev} and
// /{repo}/resolve/{rev}/{file} from files a test adds, with LFS files redirected to a second "CDN"
// server as the real hub does. Knobs make it gated, cut a transfer short, ignore Range, or serve
// bytes that do not match the metadata; every request is recorded.
#pragma once
#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/hub/checksum.h"

namespace lopper::hub_test {

class FakeHub {
 public:
  struct Request {
    std::string server;  // "hub" or "cdn"
    std::string path, range, authorization;
  };
  struct File {
    std::string content;
    bool lfs = false;
  };

  FakeHub() {
    hub_.Get(R"(/api/models/([^/]+/[^/]+)/revision/(.+))",
             [this](const httplib::Request& q, httplib::Response& r) { api(q, r); });
    hub_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
             [this](const httplib::Request& q, httplib::Response& r) { resolve(q, r); });
    cdn_.Get(R"(/blobs/([0-9a-f]+))", [this](const httplib::Request& q, httplib::Response& r) {
      record("cdn", q);
      std::lock_guard<std::mutex> l(m_);
      auto it = blobs_.find(q.matches[1]);
      if (it == blobs_.end()) return void(r.status = 404);
      serve(q, r, it->second.first, it->second.second);
    });
    start(hub_, hub_port_, hub_thread_);
    start(cdn_, cdn_port_, cdn_thread_);
  }
  ~FakeHub() {
    hub_.stop();
    cdn_.stop();
    hub_thread_.join();
    cdn_thread_.join();
  }
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }

  // A new commit of `repo` holding `files`, made the head of `branch`; returns its hash.
  std::string add_commit(const std::string& repo, const std::map<std::string, File>& files,
                         const std::string& branch = "main") {
    std::lock_guard<std::mutex> l(m_);
    auto commit = hub::sha256_hex(repo + std::to_string(++commits_)).substr(0, 40);
    repos_[repo].commits[commit] = files;
    repos_[repo].branches[branch] = commit;
    for (const auto& [name, f] : files)
      if (f.lfs) blobs_[hub::sha256_hex(f.content)] = {name, f.content};
    return commit;
  }
  // Resolve needs "Authorization: Bearer <token>": 401 without one, 403 with another (a gated model:
  // its metadata stays public, as on the real hub).
  void gate(const std::string& repo, const std::string& token) {
    std::lock_guard<std::mutex> l(m_);
    repos_[repo].token = token;
  }
  // Serve `bytes` for `file` instead of its content (the metadata keeps the real size and hash).
  void corrupt(const std::string& file, const std::string& bytes) {
    std::lock_guard<std::mutex> l(m_);
    corrupt_[file] = bytes;
  }
  // The next `times` transfers of `file` close the connection once `after` bytes of the file are sent.
  void cut(const std::string& file, size_t after, int times = 1) {
    std::lock_guard<std::mutex> l(m_);
    cut_ = {file, after, times};
  }
  // Answer 200 with the whole file to Range requests, like a server without range support.
  void ignore_range(bool on) {
    std::lock_guard<std::mutex> l(m_);
    ignore_range_ = on;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> l(m_);
    return requests_;
  }

 private:
  struct Repo {
    std::map<std::string, std::map<std::string, File>> commits;
    std::map<std::string, std::string> branches;
    std::string token;
  };
  struct Cut {
    std::string file;
    size_t after = 0;
    int times = 0;
  };

  static void start(httplib::Server& s, int& port, std::thread& t) {
    port = s.bind_to_any_port("127.0.0.1");
    t = std::thread([&s] { s.listen_after_bind(); });
    // stop() before the accept loop runs would be lost, and the join would hang.
    while (!s.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void record(const char* server, const httplib::Request& q) {
    std::lock_guard<std::mutex> l(m_);
    requests_.push_back({server, q.path, q.get_header_value("Range"), q.get_header_value("Authorization")});
  }

  static void error(httplib::Response& r, int status, const char* code) {
    r.status = status;
    r.set_header("X-Error-Code", code);
    r.set_content(code, "text/plain");
  }

  // The commit files of repo@rev (a branch or a commit), or null. Needs m_.
  const std::map<std::string, File>* find(const std::string& repo, const std::string& rev, std::string* commit) {
    auto r = repos_.find(repo);
    if (r == repos_.end()) return nullptr;
    *commit = r->second.branches.count(rev) ? r->second.branches[rev] : rev;
    auto c = r->second.commits.find(*commit);
    return c == r->second.commits.end() ? nullptr : &c->second;
  }

  void api(const httplib::Request& q, httplib::Response& r) {
    record("hub", q);
    std::lock_guard<std::mutex> l(m_);
    std::string commit;
    if (!repos_.count(q.matches[1])) return error(r, 404, "RepoNotFound");
    auto* files = find(q.matches[1], q.matches[2], &commit);
    if (!files) return error(r, 404, "RevisionNotFound");
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& [name, f] : *files) {
      nlohmann::json s = {{"rfilename", name}, {"size", f.content.size()}};
      s["blobId"] = hub::git_blob_sha1_hex(f.lfs ? "version https://git-lfs.github.com/spec/v1\n" : f.content);
      if (f.lfs) s["lfs"] = {{"sha256", hub::sha256_hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
      siblings.push_back(s);
    }
    r.set_content(nlohmann::json{{"id", q.matches[1]}, {"sha", commit}, {"siblings", siblings}}.dump(),
                  "application/json");
  }

  void resolve(const httplib::Request& q, httplib::Response& r) {
    record("hub", q);
    std::lock_guard<std::mutex> l(m_);
    std::string commit, repo = q.matches[1];
    auto* files = find(repo, q.matches[2], &commit);
    if (!files) return error(r, 404, repos_.count(repo) ? "RevisionNotFound" : "RepoNotFound");
    const auto& token = repos_[repo].token;
    auto auth = q.get_header_value("Authorization");
    if (!token.empty() && auth.empty()) return error(r, 401, "GatedRepo");
    if (!token.empty() && auth != "Bearer " + token) return error(r, 403, "GatedRepo");
    auto f = files->find(q.matches[3]);
    if (f == files->end()) return error(r, 404, "EntryNotFound");
    if (f->second.lfs) {  // like huggingface.co: LFS content comes from another host
      r.set_redirect("http://127.0.0.1:" + std::to_string(cdn_port_) + "/blobs/" + hub::sha256_hex(f->second.content));
      return;
    }
    serve(q, r, f->first, f->second.content);
  }

  // Sends a file's bytes, honouring Range (httplib applies it) unless told not to. Needs m_.
  void serve(const httplib::Request& q, httplib::Response& r, const std::string& name, std::string content) {
    if (corrupt_.count(name)) content = corrupt_[name];
    if (ignore_range_) {
      const_cast<httplib::Request&>(q).ranges.clear();  // httplib applies ranges after the handler
      r.status = 200;
    }
    if (cut_.times > 0 && cut_.file == name) {
      --cut_.times;
      const size_t after = cut_.after;
      r.set_content_provider(content.size(), "application/octet-stream",
                             [content, after](size_t off, size_t len, httplib::DataSink& sink) {
                               if (off >= after) return false;  // drops the connection mid-body
                               sink.write(content.data() + off, std::min(len, after - off));
                               return true;
                             });
      return;
    }
    r.set_content(content, "application/octet-stream");
  }

  mutable std::mutex m_;
  httplib::Server hub_, cdn_;
  int hub_port_ = 0, cdn_port_ = 0;
  std::thread hub_thread_, cdn_thread_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, std::pair<std::string, std::string>> blobs_;  // sha256 -> (file name, content)
  std::map<std::string, std::string> corrupt_;
  Cut cut_;
  bool ignore_range_ = false;
  int commits_ = 0;
  std::vector<Request> requests_;
};

}  // namespace lopper::hub_test
