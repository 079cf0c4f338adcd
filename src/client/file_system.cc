#include "client/file_system.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <limits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/crc32c.h"
#include "common/file_id.h"
#include "proto/extents_digest.h"

namespace cfs::client {

namespace {

std::string FidOf(const proto::Extent& e) {
  return FormatFileId(BlockGroupId(e.block_group()), NeedleId(e.needle_id()), Cookie(e.cookie()));
}

uint64_t End(const proto::Extent& e) { return e.file_offset() + e.length(); }

// Inodes with cached xattr answers, and cached directory attributes: past
// this many, the cache starts over.
constexpr size_t kMaxCachedXattrInodes = 4096;
constexpr size_t kMaxCachedDirAttrs = 4096;

// A file whose extents average less than this is fragmented (see
// FileSystemOptions::rewrite_extents).
constexpr uint64_t kFragmentedExtentBytes = 64 << 10;

// How many needles past the one being read are fetched ahead.
constexpr size_t kReadAheadNeedles = 2;
// Files up to this size have their first needle fetched at a reading open.
constexpr uint64_t kPrefetchAtOpenBytes = 1 << 20;

// Extents in one AppendExtents (one log entry): a flush of more is split,
// and uploads done with this many pieces are committed behind the writer.
constexpr size_t kExtentsPerCommit = 1024;
// A writer with this many pieces not committed yet waits for a flush.
constexpr size_t kMaxUncommittedPieces = 4 * kExtentsPerCommit;

}  // namespace

std::string AssembleRead(const std::vector<proto::Extent>& extents, uint64_t file_size, uint64_t offset,
                         size_t size, const std::function<const std::string&(const proto::Extent&)>& needle) {
  if (offset >= file_size) return {};
  const uint64_t end = std::min<uint64_t>(file_size, offset + size);
  std::string out(end - offset, '\0');
  auto it = std::upper_bound(extents.begin(), extents.end(), offset,
                             [](uint64_t off, const proto::Extent& e) { return off < End(e); });
  for (; it != extents.end() && it->file_offset() < end; ++it) {
    const uint64_t from = std::max(offset, it->file_offset());
    const uint64_t to = std::min(end, End(*it));
    const std::string& data = needle(*it);
    const uint64_t at = it->needle_offset() + (from - it->file_offset());
    if (at >= data.size()) continue;  // validated by the metanode; a short needle reads as a hole
    const uint64_t n = std::min<uint64_t>(to - from, data.size() - at);
    std::copy_n(data.data() + at, n, out.data() + (from - offset));
  }
  return out;
}

namespace {

// Bytes of a file packed in a needle: [file_offset, +length) of the file
// is [needle_offset, +length) of the needle.
struct Piece {
  uint64_t file_offset = 0;
  uint64_t needle_offset = 0;
  uint64_t length = 0;
};

// One extent per piece of needle `needle_id` (of `needle_size` bytes,
// checksum `crc`), written where `a` assigned it, appended to `out`.
void AddPieceExtents(const std::vector<Piece>& pieces, const proto::AssignResponse& a, uint64_t needle_id,
                     uint32_t needle_size, uint32_t crc, std::vector<proto::Extent>* out) {
  for (const Piece& p : pieces) {
    proto::Extent& e = out->emplace_back();
    e.set_file_offset(p.file_offset);
    e.set_length(static_cast<uint32_t>(p.length));
    e.set_block_group(a.block_group());
    e.set_needle_id(needle_id);
    e.set_cookie(a.cookie());
    e.set_needle_offset(static_cast<uint32_t>(p.needle_offset));
    e.set_needle_size(needle_size);
    e.set_crc32c(crc);
  }
}

// Bytes [start, end) of a file with data all through.
struct DataRun {
  uint64_t start = 0;
  uint64_t end = 0;
};

}  // namespace

// One needle being uploaded: `data`, holding `pieces` of the file in write
// order; once written, one extent per piece.
struct FileSystem::Upload {
  std::vector<Piece> pieces;
  std::string data;
  bool done = false;
  Status status;
  std::vector<proto::Extent> extents;
};

struct FileSystem::OpenFile {
  uint64_t handle = 0;
  uint64_t inode = 0;
  proto::Caller caller;
  uint64_t size = 0;  // as this client knows it: the attributes plus its own writes
  std::vector<proto::Extent> extents;
  // `extents` must be fetched again; MarkStale counts the times it was
  // set, so a fetch that overlapped a commit does not clear it.
  bool extents_stale = true;
  uint64_t stale_marks = 0;
  // The needle being filled: its bytes, the pieces of the file they hold
  // in write order (the last piece's bytes end the buffer).
  std::string buf;
  std::vector<Piece> pieces;
  // Uploads not committed yet, in write order.
  std::deque<std::shared_ptr<Upload>> uploads;
  int in_flight = 0;
  std::set<uint32_t> unsynced;  // block groups written since the last fsync
  bool dirty = false;  // written since the last commit
  Status error;        // the first failed upload since the last flush
  // A flush is committing extents (AppendExtents under way): another
  // flush waits for it, so none returns before what it flushed is
  // committed, and commits reach the metanode in write order.
  bool committing = false;
  uint64_t extent_count = 0;  // the file's visible extents after this handle's last commit
  // Cancelled whenever an upload or a commit ends: waiters re-check.
  std::unique_ptr<asio::steady_timer> changed;

  void MarkStale() {
    extents_stale = true;
    ++stale_marks;
  }
  // This client's writes are not all committed yet (a read must flush).
  bool Writing() const { return dirty || !buf.empty() || !uploads.empty() || in_flight > 0 || committing; }
};

FileSystem::FileSystem(rpc::ChannelPool& pool, FileSystemOptions options)
    : pool_(pool),
      options_(std::move(options)),
      meta_(pool, MetaClientOptions{.masters = options_.masters,
                                    .volume = options_.volume,
                                    .timeout = options_.timeout,
                                    .dir_changed = [this](const proto::InodeAttr& a) { CacheDirAttr(a); },
                                    .give_back = [this](uint64_t, uint64_t dir) { return GiveBack(dir); }}),
      blobs_(pool, BlobClientOptions{.masters = options_.masters, .timeout = options_.timeout}) {}

FileSystem::~FileSystem() = default;

asio::awaitable<Status> FileSystem::Mount() {
  if (Status s = co_await meta_.Open(); !s.ok()) co_return s;
  auto root = co_await meta_.GetAttr(kRootInode);
  if (!root.ok()) co_return root.status().WithContext(fmt::format("volume {}: root directory", options_.volume));
  renew_timer_ = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
  asio::co_spawn(co_await asio::this_coro::executor, RenewLeases(), asio::detached);
  co_return Status::OK();
}

asio::awaitable<void> FileSystem::Unmount() {
  std::vector<uint64_t> dirs;
  for (auto& [dir, d] : delegated_) dirs.push_back(dir);
  for (uint64_t dir : dirs) co_await GiveBack(dir);
  std::vector<std::shared_ptr<OpenFile>> open;
  for (auto& [h, f] : handles_) open.push_back(f);
  for (auto& f : open) (void)co_await Release(f->handle);
  if (!to_release_.empty()) co_await SendReleases();
  stopping_ = true;
  if (renew_timer_) renew_timer_->cancel();
  if (lease_timer_) lease_timer_->cancel();  // nothing left to lease: every handle is released
  // Nothing started here may outlive this object: wait for the renewal
  // loop, prefetches and a scheduled release batch to end.
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (renewing_ || !fetching_.empty() || release_scheduled_ || !releasing_.empty() || lease_scheduled_ ||
         !leasing_.empty() || rewriting_ || polling_ ||
         !delegated_.empty()) {
    t.expires_after(std::chrono::milliseconds(1));
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> FileSystem::RenewLeases() {
  renewing_ = true;
  while (!stopping_) {
    renew_timer_->expires_after(options_.lease_renew_interval);
    (void)co_await renew_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) break;
    // One renewal per partition holding a lease of ours.
    std::set<uint64_t> inodes;
    for (auto& [inode, h] : handles_of_inode_) inodes.insert(inode);
    std::set<uint64_t> done;
    for (uint64_t inode : inodes) {
      auto p = co_await meta_.PartitionOf(inode);
      if (!p.ok() || done.contains(*p)) continue;
      done.insert(*p);
      proto::MetaCommand c;
      c.mutable_renew_leases();
      (void)co_await meta_.Write(*p, std::move(c), proto::Caller());
    }
  }
  renewing_ = false;
}

asio::awaitable<Result<proto::MetaResponse>> FileSystem::InodeWrite(uint64_t inode, proto::MetaCommand c,
                                                                    const proto::Caller& caller) {
  (void)co_await Settle(inode);
  ForgetCreated(inode);
  co_return co_await meta_.InodeCommand(inode, std::move(c), caller);
}

asio::awaitable<Result<proto::MetaResponse>> FileSystem::InodeRead(uint64_t inode, proto::MetaReadRequest req,
                                                                   const proto::Caller& caller) {
  (void)co_await Settle(inode);
  co_return co_await meta_.InodeRead(inode, std::move(req), caller);
}

// ---- metadata ----

asio::awaitable<Result<proto::InodeAttr>> FileSystem::Lookup(uint64_t parent, std::string_view name,
                                                             const proto::Caller& c) {
  if (auto local = LocalLookup(parent, name)) co_return std::move(*local);
  auto r = co_await meta_.Lookup(parent, name, c);
  if (r.ok()) CountOwnWrites(&*r);
  co_return r;
}

void FileSystem::CountOwnWrites(proto::InodeAttr* attr) const {
  auto range = handles_of_inode_.equal_range(attr->inode());
  for (auto it = range.first; it != range.second; ++it) {
    attr->set_size(std::max(attr->size(), handles_.at(it->second)->size));
  }
}

void FileSystem::CacheDirAttr(const proto::InodeAttr& attr) {
  if (options_.attr_cache_ttl.count() <= 0) return;
  if (dir_attrs_.size() >= kMaxCachedDirAttrs) dir_attrs_.clear();
  dir_attrs_[attr.inode()] = CachedAttr{attr, std::chrono::steady_clock::now() + options_.attr_cache_ttl};
}

asio::awaitable<Result<proto::InodeAttr>> FileSystem::GetAttr(uint64_t inode) {
  if (auto local = LocalAttr(inode)) co_return std::move(*local);
  if (auto it = dir_attrs_.find(inode); it != dir_attrs_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) co_return it->second.attr;
    dir_attrs_.erase(it);
  }
  auto r = co_await meta_.GetAttr(inode);
  if (r.ok()) CountOwnWrites(&*r);
  co_return r;
}

asio::awaitable<Result<proto::InodeAttr>> FileSystem::SetAttr(SetAttrRequest request, const proto::Caller& c) {
  const uint64_t inode = request.inode();
  if (request.valid() & proto::SETATTR_SIZE) {
    // Buffered writes land first, so the size cuts them as it cuts the rest.
    if (Status s = co_await FlushInode(inode, false); !s.ok()) co_return s;
  }
  const bool sized = request.valid() & proto::SETATTR_SIZE;
  dir_attrs_.erase(inode);
  proto::MetaCommand cmd;
  *cmd.mutable_set_attr() = std::move(request);
  auto r = co_await InodeWrite(inode, std::move(cmd), c);
  if (!r.ok()) co_return r.status();
  if (sized) {
    auto range = handles_of_inode_.equal_range(inode);
    for (auto it = range.first; it != range.second; ++it) {
      auto& f = handles_.at(it->second);
      f->size = f->Writing() ? std::max(f->size, r->attr().size()) : r->attr().size();
      f->MarkStale();
    }
  }
  co_return std::move(*r->mutable_attr());
}

asio::awaitable<Result<proto::InodeAttr>> FileSystem::Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                             const proto::Caller& c, uint64_t rdev,
                                                             std::string_view symlink_target) {
  if ((mode & S_IFMT) == S_IFREG) {
    co_await NoteChange(parent, c);
    if (auto local = co_await LocalCreate(parent, name, mode, /*open=*/false, c)) co_return std::move(*local);
  }
  co_return co_await meta_.Create(parent, name, mode, c, rdev, symlink_target);
}

asio::awaitable<Status> FileSystem::Unlink(uint64_t parent, std::string_view name, bool rmdir,
                                           const proto::Caller& c) {
  // The directory removed may be cached (as a parent of an earlier change).
  if (rmdir) dir_attrs_.clear();
  if (!rmdir) {
    co_await TakeLeasesNow();  // a file open here stays when unlinked
    co_await NoteChange(parent, c);
    if (auto local = co_await LocalUnlink(parent, name, c)) co_return std::move(*local);
  }
  co_return co_await meta_.Unlink(parent, name, rmdir, c);
}

asio::awaitable<Status> FileSystem::Rename(uint64_t src_parent, std::string_view src_name, uint64_t dst_parent,
                                           std::string_view dst_name, uint32_t flags, const proto::Caller& c) {
  // A directory moved or replaced may be cached (its parent, ctime, links).
  dir_attrs_.clear();
  co_await TakeLeasesNow();  // a file open here stays when replaced
  co_return co_await meta_.Rename(src_parent, src_name, dst_parent, dst_name, flags, c);
}

asio::awaitable<Result<proto::InodeAttr>> FileSystem::Link(uint64_t inode, uint64_t parent, std::string_view name,
                                                           const proto::Caller& c) {
  auto home = co_await meta_.PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  auto where = co_await meta_.PartitionOf(inode);
  if (!where.ok()) co_return where.status();
  if (*home == *where) {
    proto::MetaCommand cmd;
    cmd.mutable_link()->set_inode(inode);
    cmd.mutable_link()->set_parent(parent);
    cmd.mutable_link()->set_name(std::string(name));
    auto r = co_await InodeWrite(inode, std::move(cmd), c);
    if (!r.ok()) co_return r.status();
    co_return std::move(*r->mutable_attr());
  }
  // Across partitions: the link count first (a crash leaves one link too
  // many, never a dentry to a freed inode), then the dentry.
  proto::MetaCommand li;
  li.mutable_link_inode()->set_inode(inode);
  auto linked = co_await InodeWrite(inode, std::move(li), c);
  if (!linked.ok()) co_return linked.status();
  proto::MetaCommand cd;
  auto* d = cd.mutable_create_dentry();
  d->set_parent(parent);
  d->set_name(std::string(name));
  d->set_inode(inode);
  d->set_mode(linked->attr().mode() & S_IFMT);
  auto dentry = co_await meta_.Write(*home, std::move(cd), c);
  Status s = dentry.ok() ? AnswerStatus(*dentry) : dentry.status();
  if (!s.ok()) {
    proto::MetaCommand undo;
    undo.mutable_unlink_inode()->set_inode(inode);
    (void)co_await InodeWrite(inode, std::move(undo), c);
    co_return s;
  }
  co_return std::move(*linked->mutable_attr());
}

asio::awaitable<Result<std::string>> FileSystem::ReadLink(uint64_t inode) {
  proto::MetaReadRequest req;
  req.mutable_read_link()->set_inode(inode);
  auto r = co_await InodeRead(inode, std::move(req), proto::Caller());
  if (!r.ok()) co_return r.status();
  co_return std::move(*r->mutable_value());
}

asio::awaitable<Result<bool>> FileSystem::ReadDir(uint64_t parent, std::string_view after, uint32_t limit, bool plus,
                                                  const proto::Caller& c, DirSink add) {
  if (auto local = LocalReadDir(parent, after, limit, plus, c, add)) co_return std::move(*local);
  (void)co_await FlushDelegated(parent);  // the metanode lists what is sent
  auto page = co_await meta_.ReadDir(parent, after, limit, plus, c);
  if (!page.ok()) co_return page.status();
  for (proto::ListedEntry& e : page->entries) add(e.inode, e.type, e.name, std::move(e.attr));
  co_return page->more;
}

asio::awaitable<Status> FileSystem::SetXattr(uint64_t inode, std::string_view name, std::string_view value,
                                             uint32_t flags, const proto::Caller& c) {
  proto::MetaCommand cmd;
  auto* op = cmd.mutable_set_xattr();
  op->set_inode(inode);
  op->set_name(std::string(name));
  op->set_value(std::string(value));
  op->set_flags(flags);
  xattrs_.erase(inode);
  dir_attrs_.erase(inode);  // its ctime changes
  auto r = co_await InodeWrite(inode, std::move(cmd), c);
  co_return r.status();
}

asio::awaitable<Result<std::string>> FileSystem::GetXattr(uint64_t inode, std::string_view name,
                                                          const proto::Caller& c) {
  const auto now = std::chrono::steady_clock::now();
  if (auto it = xattrs_.find(inode); it != xattrs_.end()) {
    auto n = it->second.find(name);
    if (n != it->second.end() && n->second.expires > now) {
      if (!n->second.found) co_return Status::NoAttribute(fmt::format("inode {}: no attribute {}", inode, name));
      co_return n->second.value;
    }
  }
  // A file created here behind a delegation, unchanged since (a SetXattr
  // drops it from created_in_): it has none, and its create need not wait.
  if (created_in_.contains(inode)) co_return Status::NoAttribute(fmt::format("inode {}: no attribute {}", inode, name));
  proto::MetaReadRequest req;
  req.mutable_get_xattr()->set_inode(inode);
  req.mutable_get_xattr()->set_name(std::string(name));
  auto r = co_await InodeRead(inode, std::move(req), c);
  if (!r.ok() && !r.status().Is(Code::kNoAttribute)) co_return r.status();
  if (options_.xattr_cache_ttl.count() > 0) {
    if (xattrs_.size() >= kMaxCachedXattrInodes) xattrs_.clear();
    CachedXattr& e = xattrs_[inode][std::string(name)];
    e.found = r.ok();
    e.value = r.ok() ? r->value() : std::string();
    e.expires = now + options_.xattr_cache_ttl;
  }
  if (!r.ok()) co_return r.status();
  co_return std::move(*r->mutable_value());
}

asio::awaitable<Result<std::vector<std::string>>> FileSystem::ListXattr(uint64_t inode, const proto::Caller& c) {
  if (created_in_.contains(inode)) co_return std::vector<std::string>();  // as in GetXattr
  proto::MetaReadRequest req;
  req.mutable_list_xattr()->set_inode(inode);
  auto r = co_await InodeRead(inode, std::move(req), c);
  if (!r.ok()) co_return r.status();
  co_return std::vector<std::string>(r->names().begin(), r->names().end());
}

asio::awaitable<Status> FileSystem::RemoveXattr(uint64_t inode, std::string_view name, const proto::Caller& c) {
  proto::MetaCommand cmd;
  cmd.mutable_remove_xattr()->set_inode(inode);
  cmd.mutable_remove_xattr()->set_name(std::string(name));
  xattrs_.erase(inode);
  dir_attrs_.erase(inode);
  auto r = co_await InodeWrite(inode, std::move(cmd), c);
  co_return r.status();
}

asio::awaitable<Result<VolumeUsage>> FileSystem::StatFs() {
  const proto::VolumeView v = meta_.view();
  VolumeUsage out;
  out.capacity_bytes = v.capacity_bytes();
  for (const auto& p : v.partitions()) {
    proto::MetaReadRequest req;
    req.mutable_stat_fs();
    auto r = co_await meta_.Read(p.record().id(), std::move(req), proto::Caller());
    if (!r.ok()) co_return r.status();
    if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
    out.bytes_used += r->statfs().bytes();
    out.inodes += r->statfs().inodes();
  }
  co_return out;
}

// ---- data ----

std::shared_ptr<FileSystem::OpenFile> FileSystem::Handle(uint64_t handle) {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

asio::awaitable<Result<FileSystem::Opened>> FileSystem::Open(uint64_t inode, bool truncate, const proto::Caller& c,
                                                         bool read_only) {
  // Buffered writes of this client to the file land before it is opened
  // again (and before O_TRUNC cuts them).
  if (Status s = co_await FlushInode(inode, false); !s.ok()) co_return s;
  // A release not sent yet is dropped (this open keeps the lease); one on
  // its way lands before this open takes the lease again.
  const bool kept = to_release_.erase(inode) > 0;
  while (releasing_.contains(inode)) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (read_only && !truncate) co_return co_await OpenForReading(inode, kept || handles_of_inode_.contains(inode), c);
  proto::MetaCommand cmd;
  cmd.mutable_open()->set_inode(inode);
  auto r = co_await InodeWrite(inode, std::move(cmd), c);
  if (!r.ok()) co_return r.status();
  to_lease_.erase(inode);  // taken now
  Opened opened;
  opened.attr = std::move(*r->mutable_attr());
  if (truncate && opened.attr.size() != 0) {
    proto::SetAttrOp t;
    t.set_inode(inode);
    t.set_valid(proto::SETATTR_SIZE);
    t.set_size(0);
    proto::MetaCommand tc;
    *tc.mutable_set_attr() = t;
    auto tr = co_await InodeWrite(inode, std::move(tc), c);
    if (!tr.ok()) {
      proto::MetaCommand rel;
      rel.mutable_release()->set_inode(inode);
      (void)co_await InodeWrite(inode, std::move(rel), c);
      co_return tr.status();
    }
    opened.attr = std::move(*tr->mutable_attr());
  }
  opened.handle = co_await AddHandle(inode, opened.attr.size(), c);
  co_return opened;
}

asio::awaitable<Result<FileSystem::Opened>> FileSystem::OpenForReading(uint64_t inode, bool leased,
                                                                   const proto::Caller& c) {
  Opened opened;
  std::vector<proto::Extent> extents;
  if (auto local = LocalExtents(inode)) {
    opened.attr = std::move(local->first);
    extents = std::move(local->second);
  } else {
    proto::MetaReadRequest req;
    req.mutable_get_extents()->set_inode(inode);
    auto r = co_await InodeRead(inode, std::move(req), c);
    if (!r.ok()) co_return r.status();
    // An unlinked file opens only again through this client's lease of it.
    if (r->attr().nlink() == 0 && !leased) co_return Status::NotFound(fmt::format("inode {} was unlinked", inode));
    opened.attr = std::move(*r->mutable_attr());
    extents.assign(r->extents().begin(), r->extents().end());
  }
  opened.handle = co_await AddHandle(inode, opened.attr.size(), c);
  const auto& f = handles_.at(opened.handle);
  f->extents = std::move(extents);
  f->extents_stale = false;
  // A small file is read whole: its first needle is fetched while the
  // kernel takes this answer and sends the read.
  if (!f->extents.empty() && opened.attr.size() <= kPrefetchAtOpenBytes) Prefetch(f->extents.front());
  if (!leased) {
    to_lease_.insert(inode);
    if (!lease_scheduled_) {
      lease_scheduled_ = true;
      asio::co_spawn(co_await asio::this_coro::executor, SendLeases(), asio::detached);
    }
  }
  co_return opened;
}

asio::awaitable<void> FileSystem::SendLeases() {
  asio::steady_timer t(co_await asio::this_coro::executor, options_.lease_delay);
  lease_timer_ = &t;
  (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  lease_timer_ = nullptr;
  lease_scheduled_ = false;
  std::set<uint64_t> batch;
  batch.swap(to_lease_);
  co_await SendLeaseBatch(std::move(batch));
}

asio::awaitable<void> FileSystem::TakeLeasesNow() {
  if (!to_lease_.empty()) {
    std::set<uint64_t> batch;
    batch.swap(to_lease_);
    co_await SendLeaseBatch(std::move(batch));
  }
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!leasing_.empty()) {
    t.expires_after(std::chrono::milliseconds(1));
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> FileSystem::SendLeaseBatch(std::set<uint64_t> batch) {
  leasing_.insert(batch.begin(), batch.end());
  std::map<uint64_t, proto::OpenOp> by_partition;
  for (uint64_t inode : batch) {
    auto p = co_await meta_.PartitionOf(inode);
    if (p.ok()) by_partition[*p].add_more(inode);
  }
  for (auto& [partition, op] : by_partition) {
    proto::MetaCommand c;
    *c.mutable_open() = std::move(op);
    auto r = co_await meta_.Write(partition, std::move(c), proto::Caller());
    // The readers go on with the extents they have (safe for deletion_grace).
    if (!r.ok()) spdlog::warn("leases of files open for reading in partition {}: {}", partition, r.status().ToString());
  }
  for (uint64_t inode : batch) leasing_.erase(inode);
}

asio::awaitable<Result<std::pair<proto::InodeAttr, uint64_t>>> FileSystem::CreateOpen(uint64_t parent,
                                                                                       std::string_view name,
                                                                                       uint32_t mode,
                                                                                       const proto::Caller& c) {
  co_await NoteChange(parent, c);
  auto local = co_await LocalCreate(parent, name, (mode & 07777) | S_IFREG, /*open=*/true, c);
  Result<proto::InodeAttr> r;
  if (local) {
    r = std::move(*local);
  } else {
    r = co_await meta_.Create(parent, name, (mode & 07777) | S_IFREG, c, 0, {}, /*open=*/true);
  }
  if (!r.ok()) co_return r.status();
  const uint64_t handle = co_await AddHandle(r->inode(), r->size(), c);
  co_return std::make_pair(std::move(*r), handle);
}

asio::awaitable<uint64_t> FileSystem::AddHandle(uint64_t inode, uint64_t size, const proto::Caller& c) {
  auto f = std::make_shared<OpenFile>();
  f->inode = inode;
  f->caller = c;
  f->size = size;
  // Never expires: RunUpload cancels it to wake every waiter at once.
  f->changed = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor,
                                                    asio::steady_timer::time_point::max());
  f->handle = next_handle_++;
  handles_[f->handle] = f;
  handles_of_inode_.emplace(inode, f->handle);
  co_return f->handle;
}

asio::awaitable<Status> FileSystem::RefreshExtents(std::shared_ptr<OpenFile> f) {
  const uint64_t marks = f->stale_marks;
  proto::MetaReadRequest req;
  req.mutable_get_extents()->set_inode(f->inode);
  auto r = co_await InodeRead(f->inode, std::move(req), proto::Caller());
  if (!r.ok()) co_return r.status();
  f->extents.assign(r->extents().begin(), r->extents().end());
  // The size is the metanode's (this client's writes are flushed by now:
  // Read flushes first; a truncate elsewhere shrinks it).
  f->size = f->Writing() ? std::max(f->size, r->attr().size()) : r->attr().size();
  // A commit or truncate while this fetch was out: fetch again.
  f->extents_stale = f->stale_marks != marks;
  co_return Status::OK();
}

asio::awaitable<Result<std::shared_ptr<const std::string>>> FileSystem::Needle(const proto::Extent& e) {
  const std::string fid = FidOf(e);
  for (;;) {
    auto it = cache_.find(fid);
    if (it != cache_.end()) {
      lru_.splice(lru_.end(), lru_, it->second.lru);
      co_return it->second.data;
    }
    auto fetch = fetching_.find(fid);
    if (fetch == fetching_.end()) break;
    // Under way (a prefetch): wait for it rather than fetch twice; if it
    // failed, fetch here.
    std::shared_ptr<asio::steady_timer> landed = fetch->second;
    (void)co_await landed->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  auto landed = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                     asio::steady_timer::time_point::max());
  fetching_.emplace(fid, landed);
  auto blob = co_await blobs_.Get(fid);
  fetching_.erase(fid);
  landed->cancel();
  if (!blob.ok()) co_return blob.status();
  if (e.crc32c() != 0 && blob->checksum != e.crc32c()) {
    co_return Status::Corruption(fmt::format("needle {}: checksum differs from the extent's", fid));
  }
  auto data = std::make_shared<const std::string>(std::move(blob->data));
  if (!cache_.contains(fid)) {
    lru_.push_back(fid);
    cache_[fid] = CachedNeedle{data, std::prev(lru_.end())};
    cache_bytes_ += data->size();
    while (cache_bytes_ > options_.chunk_cache_bytes && lru_.size() > 1) {
      auto old = cache_.find(lru_.front());
      cache_bytes_ -= old->second.data->size();
      cache_.erase(old);
      lru_.pop_front();
    }
  }
  co_return data;
}

void FileSystem::Prefetch(const proto::Extent& e) {
  const std::string fid = FidOf(e);
  if (cache_.contains(fid) || fetching_.contains(fid)) return;
  auto self = this;
  asio::co_spawn(
      renew_timer_->get_executor(),
      [self, e]() -> asio::awaitable<void> { (void)co_await self->Needle(e); },
      asio::detached);
}

asio::awaitable<Result<std::string>> FileSystem::Read(uint64_t handle, uint64_t offset, size_t size) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  // What this client wrote through any handle of the file is read back.
  bool dirty = false;
  auto range = handles_of_inode_.equal_range(f->inode);
  for (auto it = range.first; it != range.second && !dirty; ++it) {
    const auto& h = handles_.at(it->second);
    dirty = h->Writing();
  }
  if (dirty) {
    if (Status s = co_await FlushInode(f->inode, false); !s.ok()) co_return s;
  }
  while (f->extents_stale) {
    if (Status s = co_await RefreshExtents(f); !s.ok()) co_return s;
  }
  if (offset >= f->size) co_return std::string();
  const uint64_t file_size = f->size;
  const uint64_t end = std::min<uint64_t>(file_size, offset + size);
  // The extents this read needs, and those after them to read ahead, copied:
  // another read of the handle may replace f->extents while this one waits.
  auto first = std::upper_bound(f->extents.begin(), f->extents.end(), offset,
                                [](uint64_t off, const proto::Extent& e) { return off < End(e); });
  auto stop = first;
  while (stop != f->extents.end() && stop->file_offset() < end) ++stop;
  const std::vector<proto::Extent> extents(first, stop);
  std::vector<proto::Extent> ahead;
  for (auto next = stop; next != f->extents.end() && ahead.size() < kReadAheadNeedles; ++next) ahead.push_back(*next);
  std::map<std::string, std::shared_ptr<const std::string>> needles;
  for (const proto::Extent& e : extents) {
    const std::string fid = FidOf(e);
    if (needles.contains(fid)) continue;
    auto n = co_await Needle(e);
    if (!n.ok()) co_return n.status();
    needles[fid] = *n;
  }
  // Sequential readers (the next read reaches past these) get the next
  // needles fetched ahead.
  if (!extents.empty() && end + size > End(extents.back())) {
    for (const proto::Extent& e : ahead) Prefetch(e);
  }
  co_return AssembleRead(extents, file_size, offset, size,
                         [&](const proto::Extent& e) -> const std::string& { return *needles.at(FidOf(e)); });
}

void FileSystem::ReserveNeedleBuffer(std::string& buf, size_t need) const {
  if (need <= buf.capacity()) return;
  // A writer of large pieces fills whole needles: room for one at once, not
  // the copies of doubling. Small writers grow by doubling (many files may
  // be open for writing, each holding its buffer).
  constexpr size_t kStreamingPiece = 64 << 10;
  buf.reserve(need >= kStreamingPiece ? std::max(need, options_.chunk_bytes) : 2 * need);
}

asio::awaitable<Status> FileSystem::Write(uint64_t handle, uint64_t offset, std::string_view data) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  if (data.empty()) co_return Status::OK();
  if (!f->error.ok()) co_return f->error;
  Piece* last = f->pieces.empty() ? nullptr : &f->pieces.back();
  if (last && offset >= last->file_offset && offset <= last->file_offset + last->length) {
    // Inside or right after the last piece: in place, growing it (a
    // sequential writer fills whole needles with one piece).
    const size_t at = last->needle_offset + (offset - last->file_offset);
    const size_t over = std::min(data.size(), f->buf.size() - at);  // bytes that replace buffered ones
    ReserveNeedleBuffer(f->buf, at + data.size());
    std::copy(data.begin(), data.begin() + static_cast<ptrdiff_t>(over), f->buf.begin() + static_cast<ptrdiff_t>(at));
    f->buf.append(data.substr(over));
    last->length = std::max<uint64_t>(last->length, offset + data.size() - last->file_offset);
  } else {
    // Anywhere else: a new piece packed into the same needle (a random
    // writer's small writes share needles; the later piece wins where
    // they overlap, as the extents are committed in order).
    f->pieces.push_back(Piece{offset, f->buf.size(), data.size()});
    ReserveNeedleBuffer(f->buf, f->buf.size() + data.size());
    f->buf.append(data);
  }
  f->dirty = true;
  f->size = std::max<uint64_t>(f->size, offset + data.size());
  if (f->buf.size() >= options_.chunk_bytes) co_await CutBuffer(f, false);
  // Many small scattered writes are committed behind the writer as their
  // uploads end (RunUpload); one that runs far ahead of the commits waits.
  size_t pending = f->pieces.size();
  for (const auto& u : f->uploads) pending += u->pieces.size();
  if (pending >= kMaxUncommittedPieces) {
    if (Status s = co_await FlushFile(f, false); !s.ok()) co_return s;
  }
  co_return f->error;
}

asio::awaitable<void> FileSystem::CutBuffer(std::shared_ptr<OpenFile> f, bool all) {
  while (f->buf.size() >= options_.chunk_bytes || (all && !f->buf.empty())) {
    // At most uploads_in_flight at once: wait for one to end.
    while (f->in_flight >= options_.uploads_in_flight) {
      (void)co_await f->changed->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto u = std::make_shared<Upload>();
    const size_t n = std::min(f->buf.size(), options_.chunk_bytes);
    // The pieces in the first n bytes go; one that crosses n is split.
    std::vector<Piece> rest;
    for (const Piece& p : f->pieces) {
      if (p.needle_offset + p.length <= n) {
        u->pieces.push_back(p);
      } else if (p.needle_offset >= n) {
        rest.push_back(Piece{p.file_offset, p.needle_offset - n, p.length});
      } else {
        const uint64_t head = n - p.needle_offset;
        u->pieces.push_back(Piece{p.file_offset, p.needle_offset, head});
        rest.push_back(Piece{p.file_offset + head, 0, p.length - head});
      }
    }
    f->pieces = std::move(rest);
    if (n == f->buf.size()) {
      u->data = std::move(f->buf);
      f->buf.clear();
    } else {
      u->data.assign(f->buf, 0, n);
      f->buf.erase(0, n);
    }
    f->uploads.push_back(u);
    ++f->in_flight;
    asio::co_spawn(co_await asio::this_coro::executor, RunUpload(f, u), asio::detached);
  }
}

asio::awaitable<void> FileSystem::RunUpload(std::shared_ptr<OpenFile> f, std::shared_ptr<Upload> u) {
  PutOptions po;
  po.replication = options_.replication;
  const uint32_t crc = crc32c::Value(u->data);
  const uint32_t size = static_cast<uint32_t>(u->data.size());
  auto fid = co_await NextFid();
  if (fid.ok()) {
    const proto::AssignResponse& a = fid->first->assigned;
    Status s = co_await blobs_.Write(a, fid->second, std::move(u->data), po);
    if (s.ok()) {
      f->unsynced.insert(a.block_group());
      AddPieceExtents(u->pieces, a, fid->second, size, crc, &u->extents);
    } else {
      if (fids_ == fid->first) fids_.reset();  // its block group may be full or gone: a new batch next time
      u->status = s.WithContext(fmt::format("write of inode {} at {}", f->inode, u->pieces.front().file_offset));
    }
  } else {
    u->status =
        fid.status().WithContext(fmt::format("assign for inode {} at {}", f->inode, u->pieces.front().file_offset));
  }
  u->data = std::string();
  u->done = true;
  --f->in_flight;
  if (!u->status.ok() && f->error.ok()) f->error = u->status;
  f->changed->cancel();
  // Scattered writes: what is uploaded is committed now, not at the close
  // (the writer goes on meanwhile).
  size_t done = 0;
  for (auto it = f->uploads.begin(); it != f->uploads.end() && (*it)->done; ++it) done += (*it)->pieces.size();
  if (done >= kExtentsPerCommit && !f->committing && f->error.ok()) {
    asio::co_spawn(co_await asio::this_coro::executor, CommitUploaded(f), asio::detached);
  }
}

asio::awaitable<void> FileSystem::CommitUploaded(std::shared_ptr<OpenFile> f) {
  Status s = co_await CommitDone(f, 0);
  if (!s.ok() && f->error.ok()) f->error = s;  // the next flush answers it
}

asio::awaitable<Result<std::pair<std::shared_ptr<FileSystem::FidBatch>, uint64_t>>> FileSystem::NextFid() {
  const auto now = std::chrono::steady_clock::now();
  if (!fids_ || fids_->used >= fids_->assigned.count() || now - fids_->fetched > options_.fid_batch_ttl) {
    PutOptions po;
    po.replication = options_.replication;
    auto a = co_await blobs_.Assign(options_.fid_batch, po);
    if (!a.ok()) co_return a.status();
    auto batch = std::make_shared<FidBatch>();
    batch->assigned = std::move(*a);
    if (batch->assigned.count() == 0) batch->assigned.set_count(1);
    batch->fetched = now;
    fids_ = batch;
  }
  std::shared_ptr<FidBatch> b = fids_;
  const uint64_t id = b->assigned.needle_id() + b->used++;
  co_return std::make_pair(b, id);
}

asio::awaitable<Status> FileSystem::FlushFile(std::shared_ptr<OpenFile> f, bool sync) {
  co_await CutBuffer(f, true);
  while (f->in_flight > 0 || f->committing) {
    (void)co_await f->changed->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!f->error.ok()) {
    Status s = f->error;
    f->error = Status::OK();
    f->uploads.clear();
    f->dirty = false;
    co_return s;
  }
  if (sync) {
    // Data first on every replica's disk, then the metadata that names it.
    for (uint32_t group : std::set<uint32_t>(f->unsynced)) {
      if (Status s = co_await blobs_.Sync(BlockGroupId(group)); !s.ok()) co_return s;
      f->unsynced.erase(group);
    }
  }
  if (!f->dirty) co_return Status::OK();
  co_return co_await CommitDone(f, f->size);
}

asio::awaitable<Status> FileSystem::CommitDone(std::shared_ptr<OpenFile> f, uint64_t size) {
  while (f->committing) (void)co_await f->changed->async_wait(asio::as_tuple(asio::use_awaitable));
  // Only uploads that are done, in order: a write may have cut another
  // while this waited (it stays for the next commit, the file dirty).
  std::vector<proto::Extent> all;
  while (!f->uploads.empty() && f->uploads.front()->done) {
    const auto& e = f->uploads.front()->extents;
    all.insert(all.end(), e.begin(), e.end());
    f->uploads.pop_front();
  }
  f->dirty = !f->uploads.empty() || !f->buf.empty();
  if (all.empty() && size == 0) co_return Status::OK();
  f->committing = true;
  Status committed;
  // In order, at most kExtentsPerCommit to a log entry.
  for (size_t i = 0; i < all.size() || i == 0; i += kExtentsPerCommit) {
    const size_t to = std::min(all.size(), i + kExtentsPerCommit);
    std::vector<proto::Extent> extents(all.begin() + static_cast<ptrdiff_t>(std::min(i, to)),
                                       all.begin() + static_cast<ptrdiff_t>(to));
    auto behind = co_await CommitBehind(f->inode, extents, size, f->caller);
    Result<proto::MetaResponse> r;
    if (behind) {
      r = std::move(*behind);
    } else {
      r = co_await InodeWrite(f->inode, AppendExtentsCommand(f->inode, std::move(extents), size), f->caller);
    }
    if (!r.ok()) {
      committed = r.status();
      break;
    }
    f->extent_count = r->extent_count();
  }
  f->committing = false;
  f->changed->cancel();
  if (!committed.ok()) co_return committed;
  // Every handle of the inode reads the new extents.
  auto range = handles_of_inode_.equal_range(f->inode);
  for (auto it = range.first; it != range.second; ++it) handles_.at(it->second)->MarkStale();
  co_return Status::OK();
}

asio::awaitable<Status> FileSystem::FlushInode(uint64_t inode, bool sync) {
  std::vector<std::shared_ptr<OpenFile>> files;
  auto range = handles_of_inode_.equal_range(inode);
  for (auto it = range.first; it != range.second; ++it) files.push_back(handles_.at(it->second));
  Status first;
  for (auto& f : files) {
    Status s = co_await FlushFile(f, sync);
    if (first.ok() && !s.ok()) first = s;
  }
  co_return first;
}

asio::awaitable<Status> FileSystem::Flush(uint64_t handle) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  // Something to wait for and no error to answer: maybe behind.
  if (f->Writing() && f->error.ok()) {
    if (auto d = CloseBehind(f->inode)) {
      asio::co_spawn(co_await asio::this_coro::executor, FlushBehind(f, f->inode, d), asio::detached);
      co_return Status::OK();
    }
  }
  co_return co_await FlushFile(f, false);
}

asio::awaitable<Status> FileSystem::Fsync(uint64_t handle) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  // A file created behind a delegation: its create is durable too.
  (void)co_await Settle(f->inode);
  co_return co_await FlushFile(f, true);
}

asio::awaitable<Status> FileSystem::Release(uint64_t handle) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  Status s = co_await FlushFile(f, false);
  handles_.erase(handle);
  auto range = handles_of_inode_.equal_range(f->inode);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == handle) {
      handles_of_inode_.erase(it);
      break;
    }
  }
  // The lease is this client's, not the handle's: released with the last.
  if (handles_of_inode_.contains(f->inode)) co_return s;
  if (Fragmented(f->extent_count, f->size)) {
    to_rewrite_.push_back(f->inode);
    if (!rewriting_) {
      rewriting_ = true;
      asio::co_spawn(co_await asio::this_coro::executor, RunRewrites(), asio::detached);
    }
  }
  if (to_lease_.erase(f->inode) > 0) co_return s;  // its lease was never asked for
  to_release_.insert(f->inode);
  if (!release_scheduled_) {
    release_scheduled_ = true;
    asio::co_spawn(co_await asio::this_coro::executor, SendReleases(), asio::detached);
  }
  co_return s;
}

asio::awaitable<void> FileSystem::SendReleases() {
  asio::steady_timer t(co_await asio::this_coro::executor, options_.release_delay);
  (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  release_scheduled_ = false;
  // The next batch may start while this one waits (a new file's create):
  // each sends its own inodes.
  std::set<uint64_t> batch;
  batch.swap(to_release_);
  releasing_.insert(batch.begin(), batch.end());
  // A lease on its way lands first (else it would outlive its release).
  while (!leasing_.empty()) {
    t.expires_after(std::chrono::milliseconds(1));
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::map<uint64_t, proto::ReleaseOp> by_partition;
  for (uint64_t inode : batch) {
    (void)co_await Settle(inode);  // a new file's lease is taken by its create
    auto p = co_await meta_.PartitionOf(inode);
    if (!p.ok()) continue;  // the lease expires on its own
    proto::ReleaseOp& op = by_partition[*p];
    if (op.inode() == 0) {
      op.set_inode(inode);
    } else {
      op.add_more(inode);
    }
  }
  for (auto& [partition, op] : by_partition) {
    proto::MetaCommand c;
    *c.mutable_release() = std::move(op);
    (void)co_await meta_.Write(partition, std::move(c), proto::Caller());  // else the leases expire
  }
  for (uint64_t inode : batch) releasing_.erase(inode);
}

// ---- file locks ----

asio::awaitable<Result<proto::FileLock>> FileSystem::GetLock(uint64_t inode, proto::FileLock lock) {
  lock.set_client_id(meta_.client_id());
  proto::MetaReadRequest req;
  req.mutable_get_lock()->set_inode(inode);
  *req.mutable_get_lock()->mutable_lock() = std::move(lock);
  auto r = co_await InodeRead(inode, std::move(req), proto::Caller());
  if (!r.ok()) co_return r.status();
  co_return r->lock();  // unset: type FILE_UNLOCK
}

asio::awaitable<Result<bool>> FileSystem::SetLock(uint64_t inode, proto::FileLock lock, bool wait,
                                                  std::function<bool()> interrupted) {
  const auto key = std::make_tuple(inode, lock.owner(), lock.flock());
  if (lock.type() == proto::FILE_UNLOCK && !lockers_.contains(key)) co_return true;  // holds none
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    proto::MetaCommand c;
    c.mutable_set_lock()->set_inode(inode);
    *c.mutable_set_lock()->mutable_lock() = lock;
    auto r = co_await InodeWrite(inode, std::move(c), proto::Caller());
    if (!r.ok()) co_return r.status();
    if (!r->has_lock()) {
      if (lock.type() != proto::FILE_UNLOCK) {
        lockers_.insert(key);
        to_lease_.erase(inode);  // the lock took the lease
      }
      co_return true;
    }
    if (!wait) co_return false;
    // Held by another owner: wait (with reads, which write nothing) until
    // it is free, then try again.
    for (;;) {
      if ((interrupted && interrupted()) || stopping_) {
        co_return Status(Code::kCancelled, fmt::format("waiting for a lock of inode {}: interrupted", inode));
      }
      t.expires_after(pause);
      (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
      auto held = co_await GetLock(inode, lock);
      if (!held.ok()) co_return held.status();
      if (held->type() == proto::FILE_UNLOCK) break;
    }
  }
}

asio::awaitable<Status> FileSystem::UnlockOwner(uint64_t inode, uint64_t owner, bool flock) {
  if (!lockers_.contains(std::make_tuple(inode, owner, flock))) co_return Status::OK();
  proto::FileLock all;
  all.set_flock(flock);
  all.set_type(proto::FILE_UNLOCK);
  all.set_owner(owner);
  all.set_end(std::numeric_limits<uint64_t>::max());
  auto r = co_await SetLock(inode, std::move(all), false);
  lockers_.erase(std::make_tuple(inode, owner, flock));
  co_return r.status();
}

asio::awaitable<Status> FileSystem::Allocate(uint64_t handle, uint64_t offset, uint64_t length) {
  auto f = Handle(handle);
  if (!f) co_return Status::InvalidArgument(fmt::format("no open file {}", handle));
  if (Status s = co_await FlushFile(f, false); !s.ok()) co_return s;
  const uint64_t want = offset + length;
  if (want <= f->size) co_return Status::OK();
  auto r = co_await InodeWrite(f->inode, AppendExtentsCommand(f->inode, {}, want), f->caller);
  if (!r.ok()) co_return r.status();
  f->size = std::max(f->size, r->attr().size());
  co_return Status::OK();
}

// ---- merging fragmented files ----

bool FileSystem::Fragmented(size_t extents, uint64_t size) const {
  return options_.rewrite_extents > 0 && extents > options_.rewrite_extents && size / extents < kFragmentedExtentBytes &&
         size <= options_.rewrite_max_bytes;
}

asio::awaitable<void> FileSystem::RunRewrites() {
  while (!to_rewrite_.empty() && !stopping_) {
    const uint64_t inode = to_rewrite_.front();
    to_rewrite_.pop_front();
    Status s = co_await Rewrite(inode);
    // Aborted: the file changed while it was read; its next writer's close
    // tries again if it is still fragmented.
    if (!s.ok() && !s.Is(Code::kAborted)) spdlog::warn("merge of inode {}: {}", inode, s.ToString());
  }
  to_rewrite_.clear();
  rewriting_ = false;
}

// What a merge read: the file's bytes and data runs, and the digest of the
// extents they came from.
struct FileSystem::MergeSource {
  uint64_t size = 0;
  size_t extents = 0;
  uint64_t digest = 0;
  std::vector<DataRun> runs;
  std::string file;
};

asio::awaitable<Status> FileSystem::Rewrite(uint64_t inode) {
  auto source = co_await ReadForMerge(inode);
  if (!source.ok()) co_return source.status();
  if (!*source) co_return Status::OK();
  co_return co_await WriteMerged(inode, std::move(*source));
}

asio::awaitable<Result<std::shared_ptr<FileSystem::MergeSource>>> FileSystem::ReadForMerge(uint64_t inode) {
  proto::MetaReadRequest req;
  req.mutable_get_extents()->set_inode(inode);
  auto r = co_await InodeRead(inode, std::move(req), proto::Caller());
  if (!r.ok()) co_return r.status();
  const uint64_t size = r->attr().size();
  const auto& extents = r->extents();
  if (!Fragmented(static_cast<size_t>(extents.size()), size)) {
    co_return std::shared_ptr<MergeSource>();  // not fragmented (any more)
  }
  auto m = std::make_shared<MergeSource>();
  m->size = size;
  m->extents = static_cast<size_t>(extents.size());

  // The data runs (holes stay holes), each needle fetched once.
  std::vector<DataRun>& runs = m->runs;
  std::map<std::string, std::vector<const proto::Extent*>> by_needle;
  for (const proto::Extent& e : extents) {
    if (e.file_offset() >= size) break;
    const uint64_t end = std::min(End(e), size);
    if (!runs.empty() && runs.back().end == e.file_offset()) {
      runs.back().end = end;
    } else {
      runs.push_back(DataRun{e.file_offset(), end});
    }
    by_needle[FidOf(e)].push_back(&e);
  }
  m->digest = proto::DigestOf(extents);
  std::string& file = m->file;
  file.assign(size, '\0');
  for (const auto& [fid, pieces] : by_needle) {
    auto blob = co_await blobs_.Get(fid);  // checksum checked
    if (!blob.ok()) co_return blob.status().WithContext(fmt::format("merge of inode {}", inode));
    for (const proto::Extent* e : pieces) {
      const uint64_t n = std::min(End(*e), size) - e->file_offset();
      if (uint64_t{e->needle_offset()} + n > blob->data.size()) {
        co_return Status::Corruption(fmt::format("merge of inode {}: needle {} holds {} bytes, an extent needs {}",
                                                 inode, fid, blob->data.size(), e->needle_offset() + n));
      }
      std::copy_n(blob->data.data() + e->needle_offset(), n, file.data() + e->file_offset());
    }
  }
  co_return m;
}

asio::awaitable<Status> FileSystem::WriteMerged(uint64_t inode, std::shared_ptr<MergeSource> m) {
  const std::vector<DataRun>& runs = m->runs;
  const std::string& file = m->file;
  // The runs, packed into needles of up to chunk_bytes (a run may span
  // several), one extent per piece.
  std::vector<proto::Extent> merged;
  std::set<uint32_t> groups;
  std::vector<std::string> written;
  PutOptions po;
  po.replication = options_.replication;
  Status failed;
  bool worth_it = true;
  size_t next_run = 0;
  uint64_t at = runs.empty() ? 0 : runs[0].start;
  while (next_run < runs.size()) {
    std::string data;
    std::vector<Piece> pieces;
    while (next_run < runs.size() && data.size() < options_.chunk_bytes) {
      const uint64_t n = std::min<uint64_t>(runs[next_run].end - at, options_.chunk_bytes - data.size());
      pieces.push_back(Piece{at, data.size(), n});
      data.append(file, at, n);
      at += n;
      if (at == runs[next_run].end && ++next_run < runs.size()) at = runs[next_run].start;
    }
    if (merged.size() + pieces.size() > kExtentsPerCommit) {
      worth_it = false;  // too many runs (a sparse file): merging would not pay
      break;
    }
    auto fid = co_await NextFid();
    if (!fid.ok()) {
      failed = fid.status();
      break;
    }
    const proto::AssignResponse& a = fid->first->assigned;
    const uint32_t crc = crc32c::Value(data);
    const uint32_t needle_size = static_cast<uint32_t>(data.size());
    if (Status s = co_await blobs_.Write(a, fid->second, std::move(data), po); !s.ok()) {
      if (fids_ == fid->first) fids_.reset();
      failed = s;
      break;
    }
    groups.insert(a.block_group());
    AddPieceExtents(pieces, a, fid->second, needle_size, crc, &merged);
    written.push_back(FidOf(merged.back()));
  }
  // The old needles may have been fsynced: the new ones are, before they
  // replace them.
  for (uint32_t g : groups) {
    if (!failed.ok() || !worth_it) break;
    failed = co_await blobs_.Sync(BlockGroupId(g));
  }
  uint64_t extent_count = 0;
  if (failed.ok() && worth_it) {
    auto done = co_await meta_.RewriteExtents(inode, std::move(merged), m->size, m->digest, proto::Caller());
    if (done.ok()) {
      extent_count = done->extent_count();
    } else {
      failed = done.status();
    }
  }
  if (!failed.ok() || !worth_it) {
    for (const std::string& fid : written) (void)co_await blobs_.Delete(fid);  // unreferenced
    co_return failed;
  }
  spdlog::info("merged inode {}: {} extents into {}", inode, m->extents, extent_count);
  auto range = handles_of_inode_.equal_range(inode);
  for (auto it = range.first; it != range.second; ++it) handles_.at(it->second)->MarkStale();
  co_return Status::OK();
}

}  // namespace cfs::client
