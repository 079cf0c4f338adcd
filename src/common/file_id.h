// File ids, printed SeaweedFS-style: "3,01637037d6" is block group 3, then
// the needle id and the cookie in hex (DESIGN.md section 2). Shared by the
// datanode, the master and clients.
#pragma once

#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"

namespace cfs {

// "3,01637037d6": block group id, then needle id and cookie in hex, the
// needle id with its leading zero bytes dropped, one byte always kept (so
// SeaweedFS and ParseFileId can read it back).
std::string FormatFileId(BlockGroupId group, NeedleId needle, Cookie cookie);
struct FileId {
  BlockGroupId group;
  NeedleId needle;
  Cookie cookie;
};
Result<FileId> ParseFileId(std::string_view fid);

}  // namespace cfs
