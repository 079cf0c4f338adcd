// `cfs meta ls|stat|mkdir|touch|mv|rm`: a volume's namespace through the
// metanodes, without a mount (tools, tests, and a look at the metadata
// before FUSE). Paths are absolute within the volume; the caller is root.
#include <sys/stat.h>

#include <iostream>

#include <fmt/format.h>

#include "client/blob_client.h"
#include "client/meta_client.h"
#include "common/crc32c.h"
#include "common/file_id.h"
#include "cmd/commands.h"
#include "cmd/serve.h"
#include "common/strings.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

struct MetaArgs {
  std::string master = "127.0.0.1:9333";
  std::string volume;
  std::vector<std::string> paths;
  bool count = false;
  bool recursive = false;
  uint32_t mode = 0;
  int crash_after = 0;
  int txn_timeout_ms = 30000;
};

// (parent path, last name) of an absolute path; the root has no parent.
Result<std::pair<std::string, std::string>> Split(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p[0] != '/') return Status::InvalidArgument(fmt::format("{}: not an absolute path", Quoted(path)));
  if (p == "/") return Status::InvalidArgument("the root has no name");
  const size_t slash = p.rfind('/');
  return std::make_pair(slash == 0 ? std::string("/") : p.substr(0, slash), p.substr(slash + 1));
}

std::string Type(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return "dir";
    case S_IFREG: return "file";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
  }
  return "?";
}

// Runs body(client, pool) on a one-thread runtime after opening the volume.
template <typename Body>
int WithMeta(const MetaArgs& a, const char* what, Body body) {
  rpc::Runtime runtime(1);
  rpc::ChannelPool pool(runtime.executor());
  client::MetaClientOptions o;
  o.masters = SplitList(a.master);
  o.volume = a.volume;
  o.rename_txn_timeout = std::chrono::milliseconds(a.txn_timeout_ms);
  o.crash_after = a.crash_after;
  client::MetaClient meta(pool, o);
  Status s = runtime.Run(meta.Open());
  if (s.ok()) {
    if constexpr (std::is_invocable_v<Body, client::MetaClient&, rpc::ChannelPool&>) {
      s = runtime.Run(body(meta, pool));
    } else {
      s = runtime.Run(body(meta));
    }
  }
  pool.CloseAll();
  runtime.Stop();
  if (!s.ok()) {
    std::cerr << "cfs meta " << what << ": " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}

boost::asio::awaitable<Status> List(client::MetaClient& meta, const MetaArgs& a) {
  const proto::Caller root;
  for (const auto& path : a.paths) {
    auto dir = co_await meta.Resolve(path, root);
    if (!dir.ok()) co_return dir.status();
    uint64_t n = 0;
    std::string after;
    for (;;) {
      auto page = co_await meta.ReadDir(dir->inode(), after, 1024, false, root);
      if (!page.ok()) co_return page.status().WithContext(path);
      for (const auto& e : page->entries) {
        ++n;
        if (!a.count) std::cout << fmt::format("{}\t{}\t{}\n", e.name, e.inode, Type(e.type));
      }
      if (!page->more || page->entries.empty()) break;
      after = page->entries.back().name;
    }
    if (a.count) std::cout << n << "\n";
  }
  co_return Status::OK();
}

boost::asio::awaitable<Status> Stat(client::MetaClient& meta, const MetaArgs& a) {
  for (const auto& path : a.paths) {
    auto attr = co_await meta.Resolve(path, proto::Caller());
    if (!attr.ok()) co_return attr.status();
    std::string extents;
    if (S_ISREG(attr->mode())) {  // how fragmented the file is
      proto::MetaReadRequest req;
      req.mutable_get_extents()->set_inode(attr->inode());
      auto r = co_await meta.InodeRead(attr->inode(), std::move(req), proto::Caller());
      if (!r.ok()) co_return r.status().WithContext(path);
      extents = fmt::format("\textents {}", r->extents_size());
    }
    std::cout << fmt::format("{}\tinode {}\t{}\tmode {:o}\tnlink {}\tuid {}\tgid {}\tsize {}\tparent {}{}\n", path,
                             attr->inode(), Type(attr->mode()), attr->mode() & 07777, attr->nlink(), attr->uid(),
                             attr->gid(), attr->size(), attr->parent(), extents);
  }
  co_return Status::OK();
}

boost::asio::awaitable<Status> Make(client::MetaClient& meta, const MetaArgs& a, uint32_t type) {
  const proto::Caller root;
  for (const auto& path : a.paths) {
    auto parts = Split(path);
    if (!parts.ok()) co_return parts.status();
    auto parent = co_await meta.Resolve(parts->first, root);
    if (!parent.ok()) co_return parent.status();
    const uint32_t perm = a.mode != 0 ? a.mode : (type == S_IFDIR ? 0755 : 0644);
    auto made = co_await meta.Create(parent->inode(), parts->second, type | perm, root);
    if (!made.ok()) co_return made.status().WithContext(path);
    std::cout << fmt::format("{}\t{}\n", path, made->inode());
  }
  co_return Status::OK();
}

boost::asio::awaitable<Status> Remove(client::MetaClient& meta, const MetaArgs& a) {
  const proto::Caller root;
  for (const auto& path : a.paths) {
    auto parts = Split(path);
    if (!parts.ok()) co_return parts.status();
    auto parent = co_await meta.Resolve(parts->first, root);
    if (!parent.ok()) co_return parent.status();
    auto child = co_await meta.Lookup(parent->inode(), parts->second, root);
    if (!child.ok()) co_return child.status().WithContext(path);
    Status s = co_await meta.Unlink(parent->inode(), parts->second, (child->mode() & S_IFMT) == S_IFDIR, root);
    if (!s.ok()) co_return s.WithContext(path);
  }
  co_return Status::OK();
}

boost::asio::awaitable<Status> Move(client::MetaClient& meta, const MetaArgs& a) {
  const proto::Caller root;
  if (a.paths.size() != 2) co_return Status::InvalidArgument("mv takes SRC and DST");
  auto src = Split(a.paths[0]);
  if (!src.ok()) co_return src.status();
  auto dst = Split(a.paths[1]);
  if (!dst.ok()) co_return dst.status();
  auto src_parent = co_await meta.Resolve(src->first, root);
  if (!src_parent.ok()) co_return src_parent.status();
  auto dst_parent = co_await meta.Resolve(dst->first, root);
  if (!dst_parent.ok()) co_return dst_parent.status();
  co_return co_await meta.Rename(src_parent->inode(), src->second, dst_parent->inode(), dst->second, 0, root);
}

// Makes the blob `fid` (stored with `cfs blob put`) the data of the file at
// paths[0], at offset 0: an import without copying, and a way for tests to
// give a file real needles.
boost::asio::awaitable<Status> Attach(client::MetaClient& meta, rpc::ChannelPool& pool, const MetaArgs& a) {
  if (a.paths.size() != 2) co_return Status::InvalidArgument("attach takes PATH and FID");
  auto fid = ParseFileId(a.paths[1]);
  if (!fid.ok()) co_return fid.status();
  client::BlobClientOptions bo;
  bo.masters = SplitList(a.master);
  client::BlobClient blobs(pool, bo);
  auto blob = co_await blobs.Get(a.paths[1]);
  if (!blob.ok()) co_return blob.status().WithContext(a.paths[1]);
  auto file = co_await meta.Resolve(a.paths[0], proto::Caller());
  if (!file.ok()) co_return file.status();
  proto::Extent e;
  e.set_file_offset(0);
  e.set_length(static_cast<uint32_t>(blob->data.size()));
  e.set_block_group(fid->group.value());
  e.set_needle_id(fid->needle.value());
  e.set_cookie(fid->cookie.value());
  e.set_needle_size(static_cast<uint32_t>(blob->data.size()));
  e.set_crc32c(crc32c::Value(blob->data));
  std::vector<proto::Extent> extents{e};
  auto r = co_await meta.AppendExtents(file->inode(), std::move(extents), blob->data.size(), proto::Caller());
  if (!r.ok()) co_return r.status();
  std::cout << fmt::format("{}\tinode {}\tsize {}\n", a.paths[0], r->attr().inode(), r->attr().size());
  co_return Status::OK();
}

std::shared_ptr<MetaArgs> Common(CLI::App* app, const char* paths_help) {
  auto a = std::make_shared<MetaArgs>();
  app->add_option("--master", a->master, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
  app->add_option("--volume", a->volume, "the volume")->required();
  app->add_option("paths", a->paths, paths_help)->required();
  return a;
}

}  // namespace

std::function<int()> SetupMetaAttach(CLI::App* app) {
  auto a = Common(app, "PATH FID: the file and the blob");
  return [a] {
    return WithMeta(*a, "attach", [a](client::MetaClient& m, rpc::ChannelPool& pool) { return Attach(m, pool, *a); });
  };
}

std::function<int()> SetupMetaLs(CLI::App* app) {
  auto a = Common(app, "directories (absolute paths in the volume)");
  app->add_flag("--count", a->count, "print only the number of entries");
  return [a] { return WithMeta(*a, "ls", [a](client::MetaClient& m) { return List(m, *a); }); };
}

std::function<int()> SetupMetaStat(CLI::App* app) {
  auto a = Common(app, "paths");
  return [a] { return WithMeta(*a, "stat", [a](client::MetaClient& m) { return Stat(m, *a); }); };
}

std::function<int()> SetupMetaMkdir(CLI::App* app) {
  auto a = Common(app, "directories to create");
  app->add_option("--mode", a->mode, "permission bits (default 0755)");
  app->add_option("--crash-after", a->crash_after,
                  "fault injection: stop after this many steps of a create in another partition (tests)");
  return [a] { return WithMeta(*a, "mkdir", [a](client::MetaClient& m) { return Make(m, *a, S_IFDIR); }); };
}

std::function<int()> SetupMetaTouch(CLI::App* app) {
  auto a = Common(app, "empty files to create");
  app->add_option("--mode", a->mode, "permission bits (default 0644)");
  return [a] { return WithMeta(*a, "touch", [a](client::MetaClient& m) { return Make(m, *a, S_IFREG); }); };
}

std::function<int()> SetupMetaRm(CLI::App* app) {
  auto a = Common(app, "files or empty directories");
  return [a] { return WithMeta(*a, "rm", [a](client::MetaClient& m) { return Remove(m, *a); }); };
}

std::function<int()> SetupMetaMv(CLI::App* app) {
  auto a = Common(app, "SRC DST");
  app->add_option("--crash-after", a->crash_after,
                  "fault injection: stop after this many steps of a cross-partition rename (tests)");
  app->add_option("--txn-timeout-ms", a->txn_timeout_ms, "a cross-partition rename expires after this")
      ->capture_default_str();
  return [a] { return WithMeta(*a, "mv", [a](client::MetaClient& m) { return Move(m, *a); }); };
}

}  // namespace cfs::cmd
