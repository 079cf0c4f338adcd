#include "metanode/read.h"

#include <fmt/format.h>

namespace cfs::metanode {
namespace {

// Batch reads are bounded so one request cannot build an unbounded answer.
constexpr int kMaxBatchGetAttr = 4096;
constexpr uint32_t kMaxReadDirLimit = 4096;

// The directory a read lists or looks up in (0: none).
uint64_t DirOf(const proto::MetaReadRequest& req) {
  switch (req.read_case()) {
    case proto::MetaReadRequest::kLookup: return req.lookup().parent();
    case proto::MetaReadRequest::kReadDir: return req.read_dir().parent();
    default: return 0;
  }
}

Status Read(const Partition& p, const proto::MetaReadRequest& req, int64_t now_ns, proto::MetaResponse* out) {
  switch (req.read_case()) {
    case proto::MetaReadRequest::kLookup: {
      CFS_ASSIGN_OR_RETURN(*out->mutable_attr(),
                           p.Lookup(InodeId(req.lookup().parent()), req.lookup().name(), req.caller()));
      return Status::OK();
    }
    case proto::MetaReadRequest::kGetAttr: {
      CFS_ASSIGN_OR_RETURN(*out->mutable_attr(), p.GetAttr(InodeId(req.get_attr().inode())));
      return Status::OK();
    }
    case proto::MetaReadRequest::kBatchGetAttr: {
      const auto& ids = req.batch_get_attr().inodes();
      if (ids.size() > kMaxBatchGetAttr) {
        return Status::InvalidArgument(fmt::format("batch getattr of {} inodes (at most {})", ids.size(), kMaxBatchGetAttr));
      }
      std::vector<InodeId> inodes;
      inodes.reserve(static_cast<size_t>(ids.size()));
      for (uint64_t id : ids) inodes.emplace_back(id);
      for (auto& attr : p.BatchGetAttr(inodes)) *out->add_attrs() = std::move(attr);
      return Status::OK();
    }
    case proto::MetaReadRequest::kReadDir: {
      const auto& r = req.read_dir();
      const uint32_t limit = r.limit() == 0 ? kMaxReadDirLimit : std::min(r.limit(), kMaxReadDirLimit);
      return p.ReadDir(InodeId(r.parent()), r.after(), limit, r.plus(), req.caller(), out, r.packed());
    }
    case proto::MetaReadRequest::kReadLink: {
      CFS_ASSIGN_OR_RETURN(std::string target, p.ReadLink(InodeId(req.read_link().inode())));
      out->set_value(std::move(target));
      return Status::OK();
    }
    case proto::MetaReadRequest::kGetXattr: {
      CFS_ASSIGN_OR_RETURN(std::string value, p.GetXattr(InodeId(req.get_xattr().inode()), req.get_xattr().name()));
      out->set_value(std::move(value));
      return Status::OK();
    }
    case proto::MetaReadRequest::kListXattr: {
      CFS_ASSIGN_OR_RETURN(auto names, p.ListXattr(InodeId(req.list_xattr().inode())));
      for (auto& n : names) out->add_names(std::move(n));
      return Status::OK();
    }
    case proto::MetaReadRequest::kGetExtents: {
      CFS_ASSIGN_OR_RETURN(auto extents, p.GetExtents(InodeId(req.get_extents().inode())));
      for (const Extent& e : extents) ExtentToProto(e, out->add_extents());
      // With the attributes: the size the extents belong to.
      CFS_ASSIGN_OR_RETURN(*out->mutable_attr(), p.GetAttr(InodeId(req.get_extents().inode())));
      return Status::OK();
    }
    case proto::MetaReadRequest::kStatFs:
      *out->mutable_statfs() = p.StatFs();
      return Status::OK();
    case proto::MetaReadRequest::kGetLock: {
      CFS_ASSIGN_OR_RETURN(proto::FileLock conflict, p.GetLock(InodeId(req.get_lock().inode()), req.get_lock().lock()));
      if (conflict.type() != proto::FILE_UNLOCK) *out->mutable_lock() = std::move(conflict);
      return Status::OK();
    }
    case proto::MetaReadRequest::kDelegations:
      for (uint64_t dir : p.DelegatedTo(req.client_id(), now_ns)) out->add_recalled(dir);
      return Status::OK();
    case proto::MetaReadRequest::READ_NOT_SET:
      break;
  }
  return Status::InvalidArgument("meta read without a read");
}

}  // namespace

proto::MetaResponse ExecuteRead(const Partition& partition, const proto::MetaReadRequest& request, int64_t now_ns) {
  proto::MetaResponse out;
  if (const uint64_t dir = DirOf(request); dir != 0) {
    const proto::Delegation* d = partition.DelegationOf(InodeId(dir), now_ns);
    if (d != nullptr && d->client_id() != request.client_id()) {
      out.set_code(static_cast<uint32_t>(Code::kDelegated));
      out.set_message(fmt::format("directory {} is delegated to client {}", dir, d->client_id()));
      *out.mutable_delegation() = *d;
      return out;
    }
  }
  if (Status s = Read(partition, request, now_ns, &out); !s.ok()) {
    out.Clear();
    out.set_code(static_cast<uint32_t>(s.code()));
    out.set_message(s.message());
  }
  return out;
}

}  // namespace cfs::metanode
