// ExecuteRead: a MetaReadRequest answered from a partition's trees. The
// service calls it on the group's apply strand after a ReadIndex, so it
// reads a state no later command has changed.
#pragma once

#include "metanode/partition.h"
#include "proto/metanode.pb.h"

namespace cfs::metanode {

// The answer; an error of the read is its code and message (as a command's).
// A lookup or listing of a directory delegated at `now_ns` to another
// client than request.client_id is answered Delegated, with the delegation.
// DelegationsRead answers the caller's delegations (all of them: the
// service keeps which are recalled).
proto::MetaResponse ExecuteRead(const Partition& partition, const proto::MetaReadRequest& request, int64_t now_ns);

}  // namespace cfs::metanode
