// A bare Partition (no Raft) and short ways to send it commands, for the
// state machine's tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "metanode/partition.h"

namespace cfs::metanode::testing {

inline proto::Caller Root() { return proto::Caller(); }
inline proto::Caller User(uint32_t uid, uint32_t gid) {
  proto::Caller c;
  c.set_uid(uid);
  c.set_gid(gid);
  return c;
}

class PartitionTest : public ::testing::Test {
 protected:
  static PartitionOptions Options() {
    PartitionOptions o;
    o.id = PartitionId(1);
    o.volume = VolumeId(1);
    o.start = InodeId(1);
    o.end = InodeId(1'000'000);
    o.created_ns = 1'000;
    return o;
  }

  // Runs `op` (set on a fresh command by `fill`) as `caller_` at now_, with
  // a new sequence number.
  template <typename Fill>
  proto::MetaResponse Run(Fill fill) {
    return RunOn(*p_, fill);
  }
  // The same, on another partition.
  template <typename Fill>
  proto::MetaResponse RunOn(Partition& p, Fill fill) {
    proto::MetaCommand c;
    c.set_client_id(client_);
    c.set_seq(++seq_);
    c.set_now_ns(now_);
    *c.mutable_caller() = caller_;
    fill(c);
    return p.Execute(c);
  }

  proto::MetaResponse Create(uint64_t parent, const std::string& name, uint32_t mode) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_create();
      op->set_parent(parent);
      op->set_name(name);
      op->set_mode(mode);
    });
  }
  // Creates and returns the new inode id (0 on failure, with a test failure).
  uint64_t MustCreate(uint64_t parent, const std::string& name, uint32_t mode) {
    proto::MetaResponse r = Create(parent, name, mode);
    EXPECT_EQ(r.code(), 0u) << r.message();
    return r.attr().inode();
  }
  uint64_t File(uint64_t parent, const std::string& name) { return MustCreate(parent, name, S_IFREG | 0644); }
  uint64_t Dir(uint64_t parent, const std::string& name) { return MustCreate(parent, name, S_IFDIR | 0755); }

  // A file inode meant for the dentry `name` in directory 7,000,000 of
  // another partition: an orphan until confirmed.
  proto::MetaResponse CreateOrphan(const std::string& name) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_create_inode();
      op->set_mode(S_IFREG | 0644);
      op->set_parent(7'000'000);
      op->set_name(name);
    });
  }

  proto::MetaResponse Unlink(uint64_t parent, const std::string& name, bool rmdir = false) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_unlink();
      op->set_parent(parent);
      op->set_name(name);
      op->set_rmdir(rmdir);
    });
  }
  proto::MetaResponse Rename(uint64_t sp, const std::string& sn, uint64_t dp, const std::string& dn,
                             uint32_t flags = 0) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_rename();
      op->set_src_parent(sp);
      op->set_src_name(sn);
      op->set_dst_parent(dp);
      op->set_dst_name(dn);
      op->set_flags(flags);
    });
  }
  proto::MetaResponse Link(uint64_t inode, uint64_t parent, const std::string& name) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_link();
      op->set_inode(inode);
      op->set_parent(parent);
      op->set_name(name);
    });
  }
  proto::MetaResponse SetAttr(uint64_t inode, uint32_t valid, std::function<void(proto::SetAttrOp&)> fill = {}) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_set_attr();
      op->set_inode(inode);
      op->set_valid(valid);
      if (fill) fill(*op);
    });
  }
  proto::MetaResponse Append(uint64_t inode, uint64_t offset, uint32_t length, uint64_t needle) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_append_extents();
      op->set_inode(inode);
      auto* e = op->add_extents();
      e->set_file_offset(offset);
      e->set_length(length);
      e->set_block_group(3);
      e->set_needle_id(needle);
      e->set_cookie(7);
      e->set_needle_size(length);
    });
  }

  // The inode `name` in `parent` names, 0 when there is none.
  uint64_t Find(uint64_t parent, const std::string& name) {
    auto r = p_->Lookup(InodeId(parent), name, Root());
    return r.ok() ? r->inode() : 0;
  }
  proto::InodeAttr Attr(uint64_t inode) {
    auto r = p_->GetAttr(InodeId(inode));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : proto::InodeAttr();
  }
  bool Exists(uint64_t inode) { return p_->GetAttr(InodeId(inode)).ok(); }

  static Code CodeOf(const proto::MetaResponse& r) { return static_cast<Code>(r.code()); }

  void Reset(PartitionOptions o) { p_ = std::make_unique<Partition>(std::move(o)); }

  std::unique_ptr<Partition> p_ = std::make_unique<Partition>(Options());
  proto::Caller caller_ = Root();
  uint64_t client_ = 42;
  uint64_t seq_ = 0;
  int64_t now_ = 1'000'000;
};

}  // namespace cfs::metanode::testing
