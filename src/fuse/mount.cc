#define FUSE_USE_VERSION 314
#include "fuse/mount.h"

#include <fcntl.h>
#include <spawn.h>
#include <fuse_lowlevel.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>
#include <future>
#include <unordered_map>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "fuse/dir_entries.h"

namespace cfs::fuse {

namespace {

using client::FileSystem;
using proto::InodeAttr;

// Entries fetched a call: with attributes (readdirplus; fewer for the
// first page, which the kernel always asks with attributes and
// instantiates, whether or not they are wanted) or names only: as many as
// the kernel's buffer could hold (a held directory answers them at once;
// the metanode answers at most 4,096 a call).
constexpr uint32_t kReadDirFirstPlusBatch = 128;
constexpr uint32_t kReadDirPlusBatch = 1000;
constexpr uint32_t kReadDirBatch = 4096;
// A closed directory's records buffer is kept for the next one up to this
// size (a fresh one is a page fault per 4 KiB: 80 for 10,000 entries).
constexpr size_t kMaxSpareDirents = 4 << 20;

struct timespec ToTimespec(int64_t ns) {
  struct timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  if (t.tv_nsec < 0) {
    t.tv_nsec += 1000000000;
    --t.tv_sec;
  }
  return t;
}

int64_t ToNs(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

struct stat ToStat(const InodeAttr& a) {
  struct stat st {};
  st.st_ino = a.inode();
  st.st_mode = a.mode();
  st.st_nlink = a.nlink();
  st.st_uid = a.uid();
  st.st_gid = a.gid();
  st.st_rdev = a.rdev();
  st.st_size = static_cast<off_t>(a.size());
  st.st_blksize = 1 << 20;
  st.st_blocks = static_cast<blkcnt_t>(a.blocks());  // 512-byte units stored, as the metanode counts them
  st.st_atim = ToTimespec(a.atime_ns());
  st.st_mtim = ToTimespec(a.mtime_ns());
  st.st_ctim = ToTimespec(a.ctime_ns());
  return st;
}

int Errno(const Status& s) { return ToErrno(s.code()); }

}  // namespace

// An open directory: the listing fetched so far, page by page. While the
// kernel takes one reply, the next page is fetched ahead (FetchPage).
struct DirHandle {
  DirHandle(InodeAttr a, std::string buffer) : attr(std::move(a)), entries(attr.inode(), std::move(buffer)) {}
  InodeAttr attr;  // at opendir: what fstat answers once it is removed
  DirEntries entries;
  bool more = true;
  size_t answered = 0;    // entries the kernel has been given ("." and ".." included)
  bool fetching = false;  // a page is on its way: `fetched` is cancelled when it lands
  std::unique_ptr<asio::steady_timer> fetched;
  size_t buffer = 0;  // the size of the kernel's last readdir buffer
};

struct FuseMount::Impl {
  asio::strand<asio::any_io_executor> strand;
  FileSystem& fs;
  MountOptions options;
  double attr_timeout = 1.0;
  struct fuse_session* se = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> fd;
  struct fuse_buf buf {};
  std::promise<void> ended;
  std::shared_future<void> ended_future = ended.get_future().share();
  bool ended_set = false;
  bool mounted = false;
  uint64_t next_dir = 1;
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs;
  std::vector<char> dir_reply;  // readdirplus replies are built here (strand)
  std::string spare_dirents;    // the last closed directory's DirEntries buffer
  // What each inode's size and mtime were when its pages were last cached
  // (at open): unchanged at the next open, the kernel keeps them.
  std::unordered_map<uint64_t, std::pair<uint64_t, int64_t>> cached;
  int watchdog = -1;  // write end of the unmount watchdog's pipe

  Impl(asio::strand<asio::any_io_executor> s, FileSystem& f, MountOptions o)
      : strand(std::move(s)), fs(f), options(std::move(o)) {
    attr_timeout = std::chrono::duration<double>(options.attr_timeout).count();
  }

  static Impl* Of(fuse_req_t req) { return static_cast<Impl*>(fuse_req_userdata(req)); }

  static proto::Caller CallerOf(fuse_req_t req) {
    const struct fuse_ctx* ctx = fuse_req_ctx(req);
    proto::Caller c;
    c.set_uid(ctx->uid);
    c.set_gid(ctx->gid);
    if (ctx->uid != 0) {
      gid_t groups[64];
      int n = fuse_req_getgroups(req, 64, groups);
      for (int i = 0; i < std::min(n, 64); ++i) c.add_groups(groups[i]);
    }
    return c;
  }

  void ReplyEntry(fuse_req_t req, const InodeAttr& a) {
    struct fuse_entry_param e {};
    e.ino = a.inode();
    e.generation = 1;
    e.attr = ToStat(a);
    e.attr_timeout = attr_timeout;
    e.entry_timeout = attr_timeout;
    fuse_reply_entry(req, &e);
  }

  // Runs `op` (a coroutine) on the strand; it replies itself. Counted, so
  // that Unmount waits for every operation still running.
  template <typename F>
  void Spawn(F&& op) {
    ++in_flight;
    asio::co_spawn(strand, std::forward<F>(op), [this](std::exception_ptr) { --in_flight; });
  }
  int in_flight = 0;  // strand

  // ---- the session loop ----

  void WaitReadable() {
    fd->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return End();
      for (;;) {
        int res = fuse_session_receive_buf(se, &buf);
        if (res == -EINTR) continue;
        if (res == -EAGAIN) break;
        if (res <= 0) return End();  // unmounted
        fuse_session_process_buf(se, &buf);
        if (fuse_session_exited(se)) return End();
      }
      WaitReadable();
    });
  }

  void End() {
    if (ended_set) return;
    ended_set = true;
    ended.set_value();
  }
};

namespace {

using Impl = FuseMount::Impl;

// ---- the operations ----

void OpInit(void* userdata, struct fuse_conn_info* conn) {
  // Large writes: up to 1 MiB per request.
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Locks are the metanode's, for every client of the volume.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, parent, n = std::string(name), c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto r = co_await m->fs.Lookup(parent, n, c);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    m->ReplyEntry(req, *r);
  });
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
void OpForgetMulti(fuse_req_t req, size_t, struct fuse_forget_data*) { fuse_reply_none(req); }

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino]() -> asio::awaitable<void> {
    auto r = co_await m->fs.GetAttr(ino);
    if (!r.ok() && r.status().Is(Code::kNotFound)) {
      // A directory removed while open still answers fstat (nlink 0).
      for (const auto& [h, d] : m->dirs) {
        if (d->attr.inode() != ino) continue;
        InodeAttr gone = d->attr;
        gone.set_nlink(0);
        struct stat st = ToStat(gone);
        fuse_reply_attr(req, &st, 0);
        co_return;
      }
    }
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    struct stat st = ToStat(*r);
    fuse_reply_attr(req, &st, m->attr_timeout);
  });
}

void OpSetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, struct fuse_file_info*) {
  Impl* m = Impl::Of(req);
  client::SetAttrRequest s;
  s.set_inode(ino);
  uint32_t valid = 0;
  if (to_set & FUSE_SET_ATTR_MODE) valid |= proto::SETATTR_MODE, s.set_mode(attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) valid |= proto::SETATTR_UID, s.set_uid(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) valid |= proto::SETATTR_GID, s.set_gid(attr->st_gid);
  if (to_set & FUSE_SET_ATTR_SIZE) valid |= proto::SETATTR_SIZE, s.set_size(static_cast<uint64_t>(attr->st_size));
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    valid |= proto::SETATTR_ATIME_NOW;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    valid |= proto::SETATTR_ATIME, s.set_atime_ns(ToNs(attr->st_atim));
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    valid |= proto::SETATTR_MTIME_NOW;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    valid |= proto::SETATTR_MTIME, s.set_mtime_ns(ToNs(attr->st_mtim));
  }
  if (to_set & FUSE_SET_ATTR_CTIME) valid |= proto::SETATTR_CTIME, s.set_ctime_ns(ToNs(attr->st_ctim));
  s.set_valid(valid);
  m->Spawn([m, req, s = std::move(s), c = Impl::CallerOf(req)]() mutable -> asio::awaitable<void> {
    auto r = co_await m->fs.SetAttr(std::move(s), c);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    struct stat st = ToStat(*r);
    fuse_reply_attr(req, &st, m->attr_timeout);
  });
}

void CreateAny(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev, std::string target) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, parent, n = std::string(name), mode, rdev, target = std::move(target),
            c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto r = co_await m->fs.Create(parent, n, mode, c, rdev, target);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    m->ReplyEntry(req, *r);
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  CreateAny(req, parent, name, mode, rdev, "");
}
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  CreateAny(req, parent, name, (mode & 07777) | S_IFDIR, 0, "");
}
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  CreateAny(req, parent, name, S_IFLNK | 0777, 0, link);
}

void UnlinkAny(fuse_req_t req, fuse_ino_t parent, const char* name, bool rmdir) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, parent, n = std::string(name), rmdir, c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Unlink(parent, n, rmdir, c);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) { UnlinkAny(req, parent, name, false); }
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) { UnlinkAny(req, parent, name, true); }

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
              unsigned int flags) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, parent, n = std::string(name), newparent, nn = std::string(newname), flags,
            c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Rename(parent, n, newparent, nn, flags, c);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, newparent, nn = std::string(newname), c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto r = co_await m->fs.Link(ino, newparent, nn, c);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    m->ReplyEntry(req, *r);
  });
}

void OpReadLink(fuse_req_t req, fuse_ino_t ino) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino]() -> asio::awaitable<void> {
    auto r = co_await m->fs.ReadLink(ino);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    fuse_reply_readlink(req, r->c_str());
  });
}

// Opens ino and fills fi (the handle; whether cached pages stay).
asio::awaitable<Status> OpenInto(Impl* m, fuse_ino_t ino, struct fuse_file_info* fi, const proto::Caller& c) {
  auto opened = co_await m->fs.Open(ino, (fi->flags & O_TRUNC) != 0, c, (fi->flags & O_ACCMODE) == O_RDONLY);
  if (!opened.ok()) co_return opened.status();
  fi->fh = opened->handle;
  auto key = std::make_pair(opened->attr.size(), opened->attr.mtime_ns());
  auto it = m->cached.find(ino);
  fi->keep_cache = it != m->cached.end() && it->second == key;
  m->cached[ino] = key;
  co_return Status::OK();
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  struct fuse_file_info info = *fi;
  m->Spawn([m, req, ino, info, c = Impl::CallerOf(req)]() mutable -> asio::awaitable<void> {
    Status s = co_await OpenInto(m, ino, &info, c);
    if (!s.ok()) {
      fuse_reply_err(req, Errno(s));
      co_return;
    }
    if (fuse_reply_open(req, &info) == -ENOENT) (void)co_await m->fs.Release(info.fh);  // interrupted
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  struct fuse_file_info info = *fi;
  m->Spawn([m, req, parent, n = std::string(name), mode, info,
            c = Impl::CallerOf(req)]() mutable -> asio::awaitable<void> {
    auto created = co_await m->fs.CreateOpen(parent, n, mode, c);
    if (!created.ok()) {
      fuse_reply_err(req, Errno(created.status()));
      co_return;
    }
    const InodeAttr* r = &created->first;
    info.fh = created->second;
    m->cached[r->inode()] = {r->size(), r->mtime_ns()};
    struct fuse_entry_param e {};
    e.ino = r->inode();
    e.generation = 1;
    e.attr = ToStat(*r);
    e.attr_timeout = m->attr_timeout;
    e.entry_timeout = m->attr_timeout;
    if (fuse_reply_create(req, &e, &info) == -ENOENT) (void)co_await m->fs.Release(info.fh);
  });
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, h = fi->fh, size, off]() -> asio::awaitable<void> {
    auto r = co_await m->fs.Read(h, static_cast<uint64_t>(off), size);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    fuse_reply_buf(req, r->data(), r->size());
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  m->cached.erase(ino);  // the pages this client caches change with it
  m->Spawn([m, req, h = fi->fh, data = std::string(buf, size), off]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Write(h, static_cast<uint64_t>(off), data);
    if (!s.ok()) {
      fuse_reply_err(req, Errno(s));
      co_return;
    }
    fuse_reply_write(req, data.size());
  });
}

// Every close of a descriptor: the data is committed, and the closing
// owner's POSIX locks on the file go (the kernel leaves that to us).
void OpFlush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, h = fi->fh, owner = fi->lock_owner]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Flush(h);
    Status u = co_await m->fs.UnlockOwner(ino, owner, /*flock=*/false);
    if (s.ok()) s = u;
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, h = fi->fh, flock = fi->flock_release != 0,
            owner = fi->lock_owner]() -> asio::awaitable<void> {
    // (A file this client wrote lost its cached entry at the write: its
    // next open drops the pages.)
    if (flock) (void)co_await m->fs.UnlockOwner(ino, owner, /*flock=*/true);
    Status s = co_await m->fs.Release(h);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

// ---- file locks: held cluster-wide by the metanode ----

proto::FileLock ToFileLock(const struct flock& l, uint64_t owner) {
  proto::FileLock f;
  f.set_type(l.l_type == F_WRLCK ? proto::FILE_LOCK_WRITE : l.l_type == F_RDLCK ? proto::FILE_LOCK_READ : proto::FILE_UNLOCK);
  f.set_start(static_cast<uint64_t>(l.l_start));
  f.set_end(l.l_len == 0 ? std::numeric_limits<uint64_t>::max()
                         : static_cast<uint64_t>(l.l_start) + static_cast<uint64_t>(l.l_len) - 1);
  f.set_owner(owner);
  f.set_pid(static_cast<uint32_t>(l.l_pid));
  return f;
}

void OpGetLk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi, struct flock* lock) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, want = ToFileLock(*lock, fi->lock_owner), asked = *lock]() -> asio::awaitable<void> {
    auto r = co_await m->fs.GetLock(ino, want);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    struct flock out = asked;
    if (r->type() == proto::FILE_UNLOCK) {
      out.l_type = F_UNLCK;
    } else {
      out.l_type = r->type() == proto::FILE_LOCK_WRITE ? F_WRLCK : F_RDLCK;
      out.l_whence = SEEK_SET;
      out.l_start = static_cast<off_t>(r->start());
      out.l_len = r->end() == std::numeric_limits<uint64_t>::max() ? 0 : static_cast<off_t>(r->end() - r->start() + 1);
      out.l_pid = static_cast<pid_t>(r->pid());
    }
    fuse_reply_lock(req, &out);
  });
}

// Takes or drops a lock; with `sleep`, waits until it is free or the caller
// is interrupted (EINTR). Refused without waiting: EAGAIN.
void SetLock(fuse_req_t req, fuse_ino_t ino, proto::FileLock lock, bool sleep) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, lock = std::move(lock), sleep]() -> asio::awaitable<void> {
    auto r = co_await m->fs.SetLock(ino, lock, sleep, [req] { return fuse_req_interrupted(req) != 0; });
    if (!r.ok()) {
      fuse_reply_err(req, fuse_req_interrupted(req) ? EINTR : Errno(r.status()));
      co_return;
    }
    fuse_reply_err(req, *r ? 0 : EAGAIN);
  });
}

void OpSetLk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi, struct flock* lock, int sleep) {
  SetLock(req, ino, ToFileLock(*lock, fi->lock_owner), sleep != 0);
}

void OpFlock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi, int op) {
  proto::FileLock lock;
  lock.set_flock(true);
  const int kind = op & (LOCK_SH | LOCK_EX | LOCK_UN);
  lock.set_type(kind == LOCK_EX ? proto::FILE_LOCK_WRITE : kind == LOCK_SH ? proto::FILE_LOCK_READ : proto::FILE_UNLOCK);
  lock.set_owner(fi->lock_owner);
  lock.set_pid(static_cast<uint32_t>(fuse_req_ctx(req)->pid));
  SetLock(req, ino, std::move(lock), (op & LOCK_NB) == 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, h = fi->fh]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Fsync(h);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

// fsyncdir: the directory's changes this client made and has not sent yet
// (a delegated directory's) reach the metanode, which made them durable.
void OpFsyncDir(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino]() -> asio::awaitable<void> {
    Status s = co_await m->fs.FsyncDir(ino);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  struct fuse_file_info info = *fi;
  m->Spawn([m, req, ino, info, c = Impl::CallerOf(req)]() mutable -> asio::awaitable<void> {
    auto a = co_await m->fs.GetAttr(ino);
    if (!a.ok()) {
      fuse_reply_err(req, Errno(a.status()));
      co_return;
    }
    if ((a->mode() & S_IFMT) != S_IFDIR) {
      fuse_reply_err(req, ENOTDIR);
      co_return;
    }
    info.fh = m->next_dir++;
    auto d = std::make_shared<DirHandle>(std::move(*a), std::move(m->spare_dirents));
    m->spare_dirents.clear();
    d->fetched = std::make_unique<asio::steady_timer>(m->strand, asio::steady_timer::time_point::max());
    m->dirs[info.fh] = d;
    fuse_reply_open(req, &info);
  });
}

// The next page of d's listing, or, when one is on its way already, that
// one (the caller checks again whether it has enough).
asio::awaitable<Status> FetchPage(Impl* m, fuse_ino_t ino, std::shared_ptr<DirHandle> d, bool plus,
                                  proto::Caller c) {
  if (d->fetching) {
    (void)co_await d->fetched->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return Status::OK();
  }
  d->fetching = true;
  const size_t n = d->entries.size();
  std::string after = n <= 2 ? std::string() : std::string(d->entries.Name(n - 1));
  const uint32_t names = static_cast<uint32_t>(std::max<size_t>(kReadDirBatch, d->buffer / DirEntries::kSmallestRecord));
  const uint32_t limit = !plus ? names : n <= 2 ? kReadDirFirstPlusBatch : kReadDirPlusBatch;
  size_t page = 0;
  auto add = [&](uint64_t inode, uint32_t type, std::string_view name, std::unique_ptr<InodeAttr> attr) {
    d->entries.Add(inode, type, name, std::move(attr));
    ++page;
  };
  auto more = co_await m->fs.ReadDir(ino, after, limit, plus, c, add);
  d->fetching = false;
  d->fetched->cancel();
  if (!more.ok() && more.status().Is(Code::kNotFound)) {
    d->more = false;  // removed while open: it lists as empty
    co_return Status::OK();
  }
  if (!more.ok()) co_return more.status();
  page = std::max<size_t>(page, 1);
  d->more = *more;
  // The next page is asked for as soon as one lands (up to two pages ahead
  // of what the kernel took), so the metanode lists it while this one is
  // answered.
  if (d->more && d->entries.size() < d->answered + 2 * page) {
    m->Spawn([m, ino, d, plus, c]() -> asio::awaitable<void> { (void)co_await FetchPage(m, ino, d, plus, c); });
  }
  co_return Status::OK();
}

// Entries: "." and ".." at offsets 1 and 2, then the listing; an entry's
// offset is the one of the entry after it.
void ReadDirAny(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi, bool plus) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, size, off, h = fi->fh, plus, c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto it = m->dirs.find(h);
    if (it == m->dirs.end()) {
      fuse_reply_err(req, EBADF);
      co_return;
    }
    std::shared_ptr<DirHandle> d = it->second;
    d->buffer = size;
    const size_t first = static_cast<size_t>(off);
    // Fetch until there is something to answer or the directory ends. The
    // answer holds what is fetched, not more: the kernel takes it while the
    // next page is fetched, and its next request (plain unless the entries
    // are being looked up: FUSE_CAP_READDIRPLUS_AUTO) costs it less than
    // attributes for a whole buffer (1 MiB from glibc: 6,553 entries).
    while (d->more && d->entries.size() <= first) {
      if (Status s = co_await FetchPage(m, ino, d, plus, c); !s.ok()) {
        fuse_reply_err(req, Errno(s));
        co_return;
      }
    }
    size_t next = first;  // the first entry not in this reply
    if (!plus) {
      const std::string_view records = d->entries.Records(first, size, &next);
      fuse_reply_buf(req, records.data(), records.size());
    } else {
      // One buffer for every reply (this runs on the strand and the reply
      // is copied out before anything else runs): a fresh 1 MiB, the size
      // the kernel asks for, was an mmap, page faults and an munmap per
      // reply. Not zeroed: fuse_add_direntry_plus writes every byte it uses.
      if (m->dir_reply.size() < size) m->dir_reply.resize(size);
      char* out = m->dir_reply.data();
      size_t used = 0;
      std::string name;
      for (size_t i = first; i < d->entries.size(); ++i) {
        name.assign(d->entries.Name(i));
        struct fuse_entry_param ep {};
        if (const InodeAttr* a = d->entries.Attr(i)) {
          ep.ino = a->inode();
          ep.generation = 1;
          ep.attr = ToStat(*a);
          ep.attr_timeout = m->attr_timeout;
          ep.entry_timeout = m->attr_timeout;
        } else {
          // Attributes elsewhere: name only (ino 0: the kernel looks it up).
          ep.attr.st_ino = d->entries.Inode(i);
          ep.attr.st_mode = d->entries.Type(i);
        }
        const size_t n =
            fuse_add_direntry_plus(req, out + used, size - used, name.c_str(), &ep, static_cast<off_t>(i + 1));
        if (n > size - used) break;
        used += n;
        next = i + 1;
      }
      fuse_reply_buf(req, out, used);
    }
    d->answered = std::max(d->answered, next);
    // Less than half a page fetched beyond this reply: the next page is
    // fetched while the kernel takes this one (a failure here is the next
    // readdir's to report, when it fetches again).
    // With attributes only if a later request asked for them too (the
    // kernel's first always does).
    if (d->more && !d->fetching && d->entries.size() < next + kReadDirPlusBatch / 2) {
      const bool ahead_plus = plus && first != 0;
      m->Spawn([m, ino, d, ahead_plus, c]() -> asio::awaitable<void> {
        (void)co_await FetchPage(m, ino, d, ahead_plus, c);
      });
    }
  });
}

void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  ReadDirAny(req, ino, size, off, fi, false);
}
void OpReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  ReadDirAny(req, ino, size, off, fi, true);
}

void OpReleaseDir(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  asio::post(m->strand, [m, req, h = fi->fh] {
    if (auto it = m->dirs.find(h); it != m->dirs.end()) {
      // Its buffer serves the next directory opened, unless a fetch still
      // holds it or it is larger than most listings need.
      if (it->second.use_count() == 1) {
        std::string buffer = it->second->entries.Release();
        if (buffer.capacity() <= kMaxSpareDirents) m->spare_dirents = std::move(buffer);
      }
      m->dirs.erase(it);
    }
    fuse_reply_err(req, 0);
  });
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req]() -> asio::awaitable<void> {
    auto r = co_await m->fs.StatFs();
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    struct statvfs st {};
    constexpr uint64_t kBlock = 4096;
    // An unlimited volume shows 1 PiB.
    const uint64_t capacity = r->capacity_bytes != 0 ? r->capacity_bytes : uint64_t{1} << 50;
    st.f_bsize = kBlock;
    st.f_frsize = kBlock;
    st.f_blocks = capacity / kBlock;
    const uint64_t used = (r->bytes_used + kBlock - 1) / kBlock;
    st.f_bfree = st.f_blocks > used ? st.f_blocks - used : 0;
    st.f_bavail = st.f_bfree;
    st.f_files = uint64_t{1} << 32;
    st.f_ffree = st.f_files > r->inodes ? st.f_files - r->inodes : 0;
    st.f_favail = st.f_ffree;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
  });
}

void OpSetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, n = std::string(name), v = std::string(value, size), flags,
            c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    Status s = co_await m->fs.SetXattr(ino, n, v, static_cast<uint32_t>(flags), c);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, n = std::string(name), size, c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto r = co_await m->fs.GetXattr(ino, n, c);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
    } else if (size == 0) {
      fuse_reply_xattr(req, r->size());
    } else if (size < r->size()) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, r->data(), r->size());
    }
  });
}

void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, size, c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    auto r = co_await m->fs.ListXattr(ino, c);
    if (!r.ok()) {
      fuse_reply_err(req, Errno(r.status()));
      co_return;
    }
    std::string names;
    for (const auto& n : *r) names.append(n).push_back('\0');
    if (size == 0) {
      fuse_reply_xattr(req, names.size());
    } else if (size < names.size()) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, names.data(), names.size());
    }
  });
}

void OpRemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Impl* m = Impl::Of(req);
  m->Spawn([m, req, ino, n = std::string(name), c = Impl::CallerOf(req)]() -> asio::awaitable<void> {
    Status s = co_await m->fs.RemoveXattr(ino, n, c);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length, struct fuse_file_info* fi) {
  Impl* m = Impl::Of(req);
  if (mode != 0) {
    fuse_reply_err(req, EOPNOTSUPP);  // only plain allocation (no punching, no keep-size)
    return;
  }
  m->Spawn([m, req, h = fi->fh, offset, length]() -> asio::awaitable<void> {
    Status s = co_await m->fs.Allocate(h, static_cast<uint64_t>(offset), static_cast<uint64_t>(length));
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

const struct fuse_lowlevel_ops kOps = [] {
  struct fuse_lowlevel_ops ops {};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetAttr;
  ops.setattr = OpSetAttr;
  ops.readlink = OpReadLink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.readdirplus = OpReadDirPlus;
  ops.releasedir = OpReleaseDir;
  ops.fsyncdir = OpFsyncDir;
  ops.statfs = OpStatFs;
  ops.setxattr = OpSetXattr;
  ops.getxattr = OpGetXattr;
  ops.listxattr = OpListXattr;
  ops.removexattr = OpRemoveXattr;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  ops.getlk = OpGetLk;
  ops.setlk = OpSetLk;
  ops.flock = OpFlock;
  // access: default_permissions makes the kernel check; flock, getlk and
  // setlk unset: the kernel's local locks.
  return ops;
}();

// A watchdog beside fusermount3's auto_unmount, which here left a dead
// mount after a SIGKILL about one time in three: a shell that waits for
// EOF on a pipe whose write end only this process holds (close-on-exec),
// then detaches the mount. The kernel closes the pipe when this process
// dies, however it dies. A clean unmount says "unmounted" first, and the
// watchdog ends without a detach: by then another mount may be there.
// Returns the write end (-1 if the watchdog could not start: logged).
int StartUnmountWatchdog(const std::string& mountpoint) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  // Nothing else of this process goes with it (sockets would stay bound).
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  std::string script =
      "read -r said; [ \"$said\" = unmounted ] || fusermount3 -u -z \"$0\" 2>/dev/null || umount -l \"$0\" 2>/dev/null; "
      "exit 0";
  std::string mp = mountpoint;
  char sh[] = "/bin/sh", dash_c[] = "-c";
  char* argv[] = {sh, dash_c, script.data(), mp.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    spdlog::warn("fuse: no unmount watchdog for {}: {}", mountpoint, std::strerror(rc));
    return -1;
  }
  return fds[1];
}

// Marks every descriptor of this process close-on-exec, so that programs it
// starts (fusermount3 for the mount, the watchdog) hold none of them: an
// inherited listening socket would keep this process's ports bound after
// it died, until fusermount3 exits.
void CloseOnExecEverything() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    if (fd <= STDERR_FILENO) continue;
    const int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

// This process's /proc/self/mountinfo (a size-0 file: read to its end).
std::string ReadMountInfo() {
  std::ifstream in("/proc/self/mountinfo");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool IsMountPoint(const std::string& path) {
  std::error_code ec;
  return !MountDevice(ReadMountInfo(), std::filesystem::weakly_canonical(path, ec).string()).empty();
}

// Gives the mount at `canonical` (the mount point's canonical path, taken
// before mounting) `kib` KiB of kernel readahead (its bdi's read_ahead_kb).
// The kernel starts FUSE mounts at 128 KiB whatever max_readahead says, so
// a sequential reader's requests are 128 KiB each. Found through
// mountinfo, touching no path under the mount: any would be a request to
// the mount, which is not serving yet. Root only; a failure is logged.
void SetReadAhead(const std::string& canonical, uint32_t kib) {
  const std::string device = MountDevice(ReadMountInfo(), canonical);
  if (device.empty()) {
    spdlog::warn("fuse: {} is not in /proc/self/mountinfo; readahead left as it is", canonical);
    return;
  }
  const std::string knob = fmt::format("/sys/class/bdi/{}/read_ahead_kb", device);
  std::ofstream out(knob);
  out << kib << "\n";
  out.flush();
  if (!out) spdlog::warn("fuse: cannot set {} to {}; readahead left as it is", knob, kib);
}

}  // namespace

std::string MountDevice(std::string_view mountinfo, std::string_view path) {
  // A line: id parent major:minor root mount-point options... - type source.
  // Blanks, tabs, newlines and backslashes in paths are octal escapes.
  auto unescape = [](std::string_view field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
      auto octal = [&](size_t j) { return field[j] >= '0' && field[j] <= '7'; };
      if (field[i] == '\\' && i + 3 < field.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
        out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
        i += 3;
      } else {
        out.push_back(field[i]);
      }
    }
    return out;
  };
  std::string device;
  size_t start = 0;
  while (start < mountinfo.size()) {
    size_t end = mountinfo.find('\n', start);
    if (end == std::string_view::npos) end = mountinfo.size();
    const std::string_view line = mountinfo.substr(start, end - start);
    start = end + 1;
    std::string_view fields[5];
    size_t at = 0, n = 0;
    while (n < 5 && at < line.size()) {
      const size_t space = std::min(line.find(' ', at), line.size());
      if (space > at) fields[n++] = line.substr(at, space - at);
      at = space + 1;
    }
    // The last line for a path is the mount on top.
    if (n == 5 && unescape(fields[4]) == path) device = std::string(fields[2]);
  }
  return device;
}

Status CheckMountPoint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOTCONN) return Status::Busy(fmt::format("{}: a dead mount is there (fusermount3 -u {})", path, path));
    return Status::NotFound(fmt::format("mount point {} does not exist", path));
  }
  if (!S_ISDIR(st.st_mode)) return Status(Code::kNotDirectory, fmt::format("mount point {} is not a directory", path));
  if (IsMountPoint(path)) return Status::Busy(fmt::format("{} is already a mount point", path));
  std::error_code ec;
  if (!std::filesystem::is_empty(path, ec)) return Status::Busy(fmt::format("mount point {} is not empty", path));
  return Status::OK();
}

FuseMount::FuseMount(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FuseMount::~FuseMount() { Unmount(); }

Result<std::unique_ptr<FuseMount>> FuseMount::Start(asio::strand<asio::any_io_executor> strand, FileSystem& fs,
                                                    MountOptions options) {
  CFS_RETURN_IF_ERROR(CheckMountPoint(options.mountpoint));
  std::error_code ec;
  const std::string canonical = std::filesystem::weakly_canonical(options.mountpoint, ec).string();
  auto impl = std::make_unique<Impl>(strand, fs, options);
  std::vector<std::string> args = {"cfs"};
  std::string opts = fmt::format("fsname={},subtype=cfs,default_permissions,auto_unmount", options.fsname);
  if (geteuid() == 0) opts += ",allow_other";
  args.push_back("-o");
  args.push_back(opts);
  if (options.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  impl->se = fuse_session_new(&fargs, &kOps, sizeof(kOps), impl.get());
  if (impl->se == nullptr) return Status::InvalidArgument("fuse: cannot create the session (bad options?)");
  CloseOnExecEverything();
  if (fuse_session_mount(impl->se, options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(impl->se);
    impl->se = nullptr;
    return Status::IOError(fmt::format("fuse: cannot mount on {} (is /dev/fuse there? fusermount3?)",
                                       options.mountpoint));
  }
  impl->mounted = true;
  impl->watchdog = StartUnmountWatchdog(options.mountpoint);
  if (options.read_ahead_kb > 0 && geteuid() == 0) SetReadAhead(canonical, options.read_ahead_kb);
  const int fd = fuse_session_fd(impl->se);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  // The descriptor belongs to the session: released, not closed, at the end.
  impl->fd = std::make_unique<asio::posix::stream_descriptor>(strand, fd);
  Impl* raw = impl.get();
  asio::post(strand, [raw] { raw->WaitReadable(); });
  return std::unique_ptr<FuseMount>(new FuseMount(std::move(impl)));
}

void FuseMount::Wait() { impl_->ended_future.wait(); }

void FuseMount::Stop() {
  Impl* m = impl_.get();
  asio::post(m->strand, [m] { m->End(); });
}

void FuseMount::Unmount() {
  if (!impl_ || !impl_->se) return;
  Impl* m = impl_.get();
  // Stop reading on the strand, then unmount here.
  std::promise<void> stopped;
  asio::post(m->strand, [m, &stopped] {
    if (m->fd) {
      m->fd->cancel();
      (void)m->fd->release();
      m->fd.reset();
    }
    m->End();
    stopped.set_value();
  });
  stopped.get_future().wait();
  // Operations still running reply into the session: let them finish.
  for (int i = 0; i < 30000; ++i) {
    std::promise<int> left;
    asio::post(m->strand, [m, &left] { left.set_value(m->in_flight); });
    if (left.get_future().get() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (m->mounted) fuse_session_unmount(m->se);
  m->mounted = false;
  fuse_session_destroy(m->se);
  m->se = nullptr;
  free(m->buf.mem);
  m->buf.mem = nullptr;
  if (m->watchdog >= 0) {
    static constexpr char kSaid[] = "unmounted\n";
    (void)!write(m->watchdog, kSaid, sizeof(kSaid) - 1);  // a failed write: it detaches, as after a crash
    close(m->watchdog);
  }
  m->watchdog = -1;
}

}  // namespace cfs::fuse
