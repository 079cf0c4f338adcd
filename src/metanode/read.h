// ExecuteRead: a MetaReadRequest answered from a partition's trees. The
// service calls it on the group's apply strand after a ReadIndex, so it
// reads a state no later command has changed.
#pragma once

#include "metanode/partition.h"
#include "proto/metanode.pb.h"

namespace cfs::metanode {

// The answer; an error of the read is its code and message (as a command's).
proto::MetaResponse ExecuteRead(const Partition& partition, const proto::MetaReadRequest& request);

}  // namespace cfs::metanode
