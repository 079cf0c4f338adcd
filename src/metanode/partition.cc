#include "metanode/partition.h"

#include <algorithm>

#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/extents.h"
#include "proto/dir_listing.h"
#include "proto/names.h"

namespace cfs::metanode {

Status ResponseStatus(const proto::MetaResponse& response) {
  if (response.code() == 0) return Status::OK();
  return Status(static_cast<Code>(response.code()), response.message());
}

Partition::Partition(PartitionOptions options)
    : options_(std::move(options)), start_(options_.start), end_(options_.end), next_inode_(options_.start) {
  if (start_ == kRootInode) {
    Inode root;
    root.mode = S_IFDIR | 0755;
    root.nlink = 2;
    root.atime_ns = root.mtime_ns = root.ctime_ns = options_.created_ns;
    root.Extra().parent = kRootInode;  // the root is its own parent
    inodes_.emplace(kRootInode, std::move(root));
    next_inode_ = InodeId(kRootInode.value() + 1);
  }
  PublishStats();
}

void Partition::PublishStats() {
  stats_.inodes.store(inodes_.size(), std::memory_order_relaxed);
  stats_.dentries.store(dentries_.size(), std::memory_order_relaxed);
  stats_.next_inode.store(next_inode_.value(), std::memory_order_relaxed);
  stats_.end.store(end_.value(), std::memory_order_relaxed);
  stats_.bytes.store(file_bytes_, std::memory_order_relaxed);
}

// ---- applying commands ----

Result<std::string> Partition::Apply(LogIndex index, std::string_view data) {
  proto::MetaCommand command;
  if (!command.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Status::Corruption(fmt::format("meta partition {}: entry {} is not a MetaCommand", options_.id, index));
  }
  std::unique_lock l(state_mu_);
  return Execute(command).SerializeAsString();
}

proto::MetaResponse Partition::Execute(const proto::MetaCommand& command) {
  stats_.applied.fetch_add(1, std::memory_order_relaxed);
  // Time never runs backwards inside a partition, whatever the proposers'
  // clocks say.
  now_ns_ = std::max(now_ns_, command.now_ns());
  proto::MetaResponse out;
  if (command.seq() != 0) {
    auto it = answers_.find(command.client_id());
    if (it != answers_.end()) {
      ClientAnswers& c = it->second;
      c.last_ns = now_ns_;
      auto a = c.answers.find(command.seq());
      if (a != c.answers.end()) {
        stats_.retries_answered.fetch_add(1, std::memory_order_relaxed);
        out.ParseFromString(a->second);
        return out;
      }
      if (command.seq() < c.floor) {
        out.set_code(static_cast<uint32_t>(Code::kAborted));
        out.set_message(fmt::format("meta partition {}: request {} of client {} is older than the answers kept",
                                    options_.id, command.seq(), command.client_id()));
        return out;
      }
    }
  }
  caller_ = &command.caller();
  client_id_ = command.client_id();
  Status s = Dispatch(command, &out);
  caller_ = nullptr;
  if (s.ok()) AddChangedDirs(command, &out);
  if (!s.ok()) {
    out.Clear();
    out.set_code(static_cast<uint32_t>(s.code()));
    out.set_message(s.message());
    if (s.Is(Code::kDelegated)) *out.mutable_delegation() = refused_by_;
  }
  // A Delegated answer is not remembered: the retry after the recall is to
  // be applied.
  if (command.seq() != 0 && !s.Is(Code::kDelegated)) RememberAnswer(command, out);
  PublishStats();
  return out;
}

void Partition::AddChangedDirs(const proto::MetaCommand& c, proto::MetaResponse* out) const {
  using K = proto::MetaCommand::OpCase;
  uint64_t dirs[2] = {0, 0};
  switch (c.op_case()) {
    case K::kCreate: dirs[0] = c.create().parent(); break;
    case K::kCreateDentry: dirs[0] = c.create_dentry().parent(); break;
    case K::kUnlink: dirs[0] = c.unlink().parent(); break;
    case K::kLink: dirs[0] = c.link().parent(); break;
    case K::kBatch: dirs[0] = c.batch().dir(); break;
    case K::kRename:
      dirs[0] = c.rename().src_parent();
      if (c.rename().dst_parent() != dirs[0]) dirs[1] = c.rename().dst_parent();
      break;
    default: return;
  }
  for (uint64_t d : dirs) {
    if (d == 0) continue;
    auto it = inodes_.find(InodeId(d));
    if (it != inodes_.end()) InodeToAttr(it->first, it->second, out->add_dirs());
  }
}

Status Partition::Dispatch(const proto::MetaCommand& c, proto::MetaResponse* out) {
  using K = proto::MetaCommand::OpCase;
  switch (c.op_case()) {
    case K::kCreate: return DoCreate(c.create(), out);
    case K::kCreateInode: return DoCreateInode(c.create_inode(), out);
    case K::kConfirmLink: return DoConfirmLink(c.confirm_link());
    case K::kCreateDentry: return DoCreateDentry(c.create_dentry(), out);
    case K::kUnlink: return DoUnlink(c.unlink(), out);
    case K::kUnlinkInode: return DoUnlinkInode(c.unlink_inode(), out);
    case K::kLink: return DoLink(c.link(), out);
    case K::kLinkInode: return DoLinkInode(c.link_inode(), out);
    case K::kRename: return DoRename(c.rename(), out);
    case K::kSetAttr: return DoSetAttr(c.set_attr(), out);
    case K::kSetXattr: return DoSetXattr(c.set_xattr());
    case K::kRemoveXattr: return DoRemoveXattr(c.remove_xattr());
    case K::kAppendExtents: return DoAppendExtents(c.append_extents(), out);
    case K::kTruncate: return DoTruncate(c.truncate(), out);
    case K::kOpen: return DoOpen(c.open(), out);
    case K::kRelease: return DoRelease(c.release());
    case K::kRenewLeases: return DoRenewLeases();
    case K::kExpire: return DoExpire();
    case K::kReclaimOrphan: return DoReclaimOrphan(c.reclaim_orphan());
    case K::kDeletionDone: return DoDeletionDone(c.deletion_done());
    case K::kSetEnd: return DoSetEnd(c.set_end());
    case K::kRenamePrepareSrc: return DoRenamePrepareSrc(c.rename_prepare_src(), out);
    case K::kRenamePrepareDst: return DoRenamePrepareDst(c.rename_prepare_dst(), out);
    case K::kRenameCommit: return DoRenameCommit(c.rename_commit(), out);
    case K::kRenameAbort: return DoRenameAbort(c.rename_abort());
    case K::kRenameResolve: return DoRenameResolve(c.rename_resolve(), out);
    case K::kRenameForget: return DoRenameForget(c.rename_forget());
    case K::kSetLock: return DoSetLock(c.set_lock(), out);
    case K::kDelegate: return DoDelegate(c.delegate(), out);
    case K::kBatch: return DoBatch(c.batch(), out);
    case K::OP_NOT_SET: break;
  }
  return Status::InvalidArgument(fmt::format("meta partition {}: command without a known operation", options_.id));
}

void Partition::RememberAnswer(const proto::MetaCommand& command, const proto::MetaResponse& answer) {
  ClientAnswers& c = answers_[command.client_id()];
  c.last_ns = now_ns_;
  c.answers.emplace(command.seq(), answer.SerializeAsString());
  while (c.answers.size() > options_.answers_per_client) {
    c.floor = std::max(c.floor, c.answers.begin()->first + 1);
    c.answers.erase(c.answers.begin());
  }
}

void Partition::ForgetIdleClients() {
  const int64_t idle = options_.client_idle.count();
  absl::erase_if(answers_, [&](const auto& kv) { return now_ns_ - kv.second.last_ns > idle; });
}

Status Partition::DoSetEnd(const proto::SetEndOp& op) {
  if (op.end() + 1 < next_inode_.value()) {
    return Status::InvalidArgument(fmt::format("meta partition {}: end {} is below inode {} already given out",
                                               options_.id, op.end(), next_inode_.value() - 1));
  }
  if (op.end() > end_.value()) {
    return Status::InvalidArgument(
        fmt::format("meta partition {}: end {} is past the range's end {}", options_.id, op.end(), end_));
  }
  end_ = InodeId(op.end());
  return Status::OK();
}

// ---- helpers ----

static_assert(kMaxNameBytes == proto::kMaxNameBytes);

Status Partition::ValidateName(std::string_view name) { return proto::ValidateName(name); }

Result<Inode*> Partition::FindInode(InodeId id) {
  auto it = inodes_.find(id);
  if (it == inodes_.end()) return Status::NotFound(fmt::format("inode {} not found", id));
  return &it->second;
}

Result<const Inode*> Partition::FindInode(InodeId id) const {
  auto it = inodes_.find(id);
  if (it == inodes_.end()) return Status::NotFound(fmt::format("inode {} not found", id));
  return &it->second;
}

Result<Inode*> Partition::FindDir(InodeId id) {
  CFS_ASSIGN_OR_RETURN(Inode * dir, FindInode(id));
  if (!dir->is_dir()) return Status(Code::kNotDirectory, fmt::format("inode {} is not a directory", id));
  if (dir->nlink == 0) return Status::NotFound(fmt::format("directory {} was removed", id));
  return dir;
}

Result<Inode*> Partition::DirForNewEntry(InodeId parent_id, std::string_view name, uint32_t mode) {
  CFS_ASSIGN_OR_RETURN(Inode * parent, FindDir(parent_id));
  CFS_RETURN_IF_ERROR(CheckNotDelegated(parent_id));
  CFS_RETURN_IF_ERROR(CheckAccess(parent_id, *parent, *caller_, kMayWrite | kMayExec));
  if (dentries_.contains(DentryRef{parent_id, name})) return Status::Exists(fmt::format("{}/{} exists", parent_id, name));
  CFS_RETURN_IF_ERROR(CheckNotLocked(parent_id, name));  // a rename into it is pending
  if (S_ISDIR(mode) && parent->nlink >= kMaxLinks) {
    return Status(Code::kTooManyLinks, fmt::format("directory {} has {} links", parent_id, parent->nlink));
  }
  return parent;
}

Result<InodeId> Partition::NextInodeId() {
  if (next_inode_ > end_ || next_inode_.value() > DentryValue::kMaxInode) {
    return Status::NoSpace(
        fmt::format("meta partition {}: inode range [{}, {}] used up", options_.id, start_, end_));
  }
  InodeId id = next_inode_;
  next_inode_ = InodeId(id.value() + 1);
  return id;
}

Inode Partition::NewInode(uint32_t mode, const Inode* parent) const {
  Inode n;
  n.mode = mode;
  n.uid = caller_->uid();
  n.gid = caller_->gid();
  if (parent && (parent->mode & S_ISGID)) {
    // A set-group-ID directory gives its group, and directories inherit the bit.
    n.gid = parent->gid;
    if (S_ISDIR(mode)) n.mode |= S_ISGID;
  }
  n.nlink = S_ISDIR(mode) ? 2 : 1;
  n.atime_ns = n.mtime_ns = n.ctime_ns = now_ns_;
  return n;
}

void Partition::InsertDentry(InodeId parent_id, Inode& parent, std::string_view name, InodeId child, uint32_t mode) {
  dentries_.emplace(DentryKey{parent_id, Name(name)}, DentryValue(child, mode));
  if (S_ISDIR(mode)) ++parent.nlink;
  parent.mtime_ns = parent.ctime_ns = now_ns_;
}

void Partition::EraseDentry(DentryTree::iterator it, Inode& parent) {
  if (it->second.is_dir() && parent.nlink > 2) --parent.nlink;
  parent.mtime_ns = parent.ctime_ns = now_ns_;
  dentries_.erase(it);
}

bool Partition::DirEmpty(InodeId dir) const {
  auto it = dentries_.lower_bound(DentryRef{dir, std::string_view()});
  return it == dentries_.end() || it->first.parent != dir;
}

bool Partition::HasLease(InodeId id) const { return leases_.contains(id); }

void Partition::DropLinks(InodeId id, Inode& inode, uint32_t links) {
  inode.nlink = inode.nlink > links ? inode.nlink - links : 0;
  inode.ctime_ns = now_ns_;
  if (inode.nlink == 0 && !HasLease(id)) FreeInode(inodes_.find(id));
}

void Partition::FreeInode(InodeTree::iterator it) {
  if (it == inodes_.end()) return;
  Inode& n = it->second;
  if (n.extra) {
    std::vector<Extent> needles;
    AllNeedles(n.extra->extents, &needles);
    QueueDeletions(needles);
  }
  file_bytes_ -= std::min(file_bytes_, n.size);
  orphans_.erase(it->first);
  leases_.erase(it->first);
  locks_.erase(it->first);
  inodes_.erase(it);
}

void Partition::QueueDeletions(const std::vector<Extent>& needles) {
  for (const Extent& e : needles) {
    proto::DeletionRecord r;
    r.set_seq(next_deletion_++);
    r.set_queued_ns(now_ns_);
    ExtentToProto(e, r.mutable_extent());
    deletions_.push_back(std::move(r));
  }
  stats_.deletions_queued.fetch_add(needles.size(), std::memory_order_relaxed);
}

void Partition::SetSize(Inode& inode, uint64_t size) {
  file_bytes_ = file_bytes_ - std::min(file_bytes_, inode.size) + size;
  inode.size = size;
}

// ---- reads ----

Result<proto::InodeAttr> Partition::Lookup(InodeId parent, std::string_view name, const proto::Caller& caller) const {
  CFS_ASSIGN_OR_RETURN(const Inode* dir, FindInode(parent));
  if (!dir->is_dir()) return Status(Code::kNotDirectory, fmt::format("inode {} is not a directory", parent));
  CFS_RETURN_IF_ERROR(CheckAccess(parent, *dir, caller, kMayExec));
  if (name.size() > kMaxNameBytes) {
    return Status(Code::kNameTooLong, fmt::format("name of {} bytes (at most {})", name.size(), kMaxNameBytes));
  }
  auto it = dentries_.find(DentryRef{parent, name});
  if (it == dentries_.end()) return Status::NotFound(fmt::format("{}/{} not found", parent, name));
  proto::InodeAttr attr;
  EntryAttr(it->second.child(), it->second.type(), &attr);
  return attr;
}

void Partition::EntryAttr(InodeId child, uint32_t type, proto::InodeAttr* out) const {
  auto ci = inodes_.find(child);
  if (ci != inodes_.end()) {
    InodeToAttr(child, ci->second, out);
  } else {
    // The child lives in another partition: the caller fetches its attributes there.
    out->set_inode(child.value());
    out->set_mode(type);
  }
}

Result<proto::InodeAttr> Partition::GetAttr(InodeId inode) const {
  CFS_ASSIGN_OR_RETURN(const Inode* n, FindInode(inode));
  proto::InodeAttr attr;
  InodeToAttr(inode, *n, &attr);
  return attr;
}

std::vector<proto::InodeAttr> Partition::BatchGetAttr(std::span<const InodeId> inodes) const {
  std::vector<proto::InodeAttr> out;
  for (InodeId id : inodes) {
    auto it = inodes_.find(id);
    if (it == inodes_.end()) continue;
    InodeToAttr(id, it->second, &out.emplace_back());
  }
  return out;
}

Status Partition::ReadDir(InodeId parent, std::string_view after, uint32_t limit, bool plus,
                          const proto::Caller& caller, proto::MetaResponse* out, bool packed) const {
  CFS_ASSIGN_OR_RETURN(const Inode* dir, FindInode(parent));
  if (!dir->is_dir()) return Status(Code::kNotDirectory, fmt::format("inode {} is not a directory", parent));
  CFS_RETURN_IF_ERROR(CheckAccess(parent, *dir, caller, kMayRead));
  if (limit == 0) limit = 1;
  auto it = after.empty() ? dentries_.lower_bound(DentryRef{parent, after}) : dentries_.upper_bound(DentryRef{parent, after});
  std::string* pack = packed && !plus ? out->mutable_packed_entries() : nullptr;
  uint32_t n = 0;
  for (; it != dentries_.end() && it->first.parent == parent; ++it) {
    if (n == limit) {
      out->set_more(true);
      return Status::OK();
    }
    ++n;
    if (pack) {
      proto::PackListedEntry(pack, it->second.child().value(), it->second.type(), it->first.name.view());
      continue;
    }
    proto::DirEntry* e = out->add_entries();
    e->set_name(std::string(it->first.name.view()));
    e->set_inode(it->second.child().value());
    e->set_mode(it->second.type());
    if (plus) {
      auto ci = inodes_.find(it->second.child());
      if (ci != inodes_.end()) {
        InodeToAttr(ci->first, ci->second, e->mutable_attr());
      }
    }
  }
  out->set_more(false);
  return Status::OK();
}

Result<std::string> Partition::ReadLink(InodeId inode) const {
  CFS_ASSIGN_OR_RETURN(const Inode* n, FindInode(inode));
  if (!n->is_symlink()) return Status::InvalidArgument(fmt::format("inode {} is not a symlink", inode));
  return n->extra ? n->extra->symlink_target : std::string();
}

Result<std::string> Partition::GetXattr(InodeId inode, std::string_view name) const {
  CFS_ASSIGN_OR_RETURN(const Inode* n, FindInode(inode));
  if (n->extra) {
    for (const Xattr& x : n->extra->xattrs) {
      if (x.name == name) return x.value;
    }
  }
  return Status::NoAttribute(fmt::format("inode {}: no attribute {}", inode, name));
}

Result<std::vector<std::string>> Partition::ListXattr(InodeId inode) const {
  CFS_ASSIGN_OR_RETURN(const Inode* n, FindInode(inode));
  std::vector<std::string> names;
  if (n->extra) {
    for (const Xattr& x : n->extra->xattrs) names.push_back(x.name);
  }
  return names;
}

Result<std::vector<Extent>> Partition::GetExtents(InodeId inode) const {
  CFS_ASSIGN_OR_RETURN(const Inode* n, FindInode(inode));
  if (!n->extents()) return std::vector<Extent>();
  return *n->extents();
}

proto::StatFsResponse Partition::StatFs() const {
  proto::StatFsResponse s;
  s.set_inodes(inodes_.size());
  s.set_dentries(dentries_.size());
  s.set_bytes(file_bytes_);
  s.set_next_inode(next_inode_.value());
  s.set_start(start_.value());
  s.set_end(end_.value());
  return s;
}

std::vector<proto::OrphanRecord> Partition::ExpiredOrphans(int64_t now_ns) const {
  std::vector<proto::OrphanRecord> out;
  for (const auto& [id, o] : orphans_) {
    if (o.deadline_ns() <= now_ns) out.push_back(o);
  }
  return out;
}

std::vector<proto::DeletionRecord> Partition::PendingDeletions(size_t limit, int64_t freed_by_ns) const {
  std::vector<proto::DeletionRecord> out;
  for (size_t i = 0; i < deletions_.size() && i < limit && deletions_[i].queued_ns() <= freed_by_ns; ++i) {
    out.push_back(deletions_[i]);
  }
  return out;
}

}  // namespace cfs::metanode
