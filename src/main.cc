// cfs: one binary, every role and tool of ContainerFS. This table is the
// list of subcommands; `cfs help` is generated from it. Each entry's code is
// in src/cmd/.
#include "cmd/commands.h"

namespace {

const std::vector<cfs::cmd::Command>& Table() {
  using namespace cfs::cmd;
  static const std::vector<Command> table = {
      {"blockgroup inspect", "check a block group's .dat/.idx files: superblock, every needle, checksums",
       SetupBlockGroupInspect},
      {"blockgroup fix", "rebuild a block group's .idx by scanning its .dat", SetupBlockGroupFix},
  };
  return table;
}

}  // namespace

int main(int argc, char** argv) { return cfs::cmd::Run(argc, argv, Table()); }
