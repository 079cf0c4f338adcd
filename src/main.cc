// cfs: one binary, every role and tool of ContainerFS. This table is the
// list of subcommands; `cfs help` is generated from it. Each entry's code is
// in src/cmd/.
#include "cmd/commands.h"

namespace {

const std::vector<cfs::cmd::Command>& Table() {
  using namespace cfs::cmd;
  static const std::vector<Command> table = {
      {"server", "run a whole cluster in one process (master, metanode, datanode) and optionally mount it",
       SetupServer},
      {"mount", "mount a volume through FUSE", SetupMount},
      {"master", "run a master: cluster topology, Assign and block group growth", SetupMaster},
      {"datanode", "run a datanode: block groups on local disks, served over RPC", SetupDatanode},
      {"metanode", "run a metanode: meta partitions (inodes and dentries) on Raft, served over RPC", SetupMetanode},
      {"volume create", "create a volume and its meta partitions", SetupVolumeCreate},
      {"volume list", "list the volumes", SetupVolumeList},
      {"volume info", "a volume's meta partitions: ranges, leaders, inode counts", SetupVolumeInfo},
      {"meta ls", "list directories of a volume through the metanodes (no mount)", SetupMetaLs},
      {"meta stat", "attributes of paths of a volume", SetupMetaStat},
      {"meta mkdir", "create directories in a volume", SetupMetaMkdir},
      {"meta touch", "create empty files in a volume", SetupMetaTouch},
      {"meta rm", "remove files or empty directories of a volume", SetupMetaRm},
      {"meta mv", "rename within a volume (across meta partitions too)", SetupMetaMv},
      {"meta attach", "make a stored blob (FID) the data of a file of a volume", SetupMetaAttach},
      {"blob put", "store files as blobs; prints one file id per file", SetupBlobPut},
      {"blob get", "read a blob by file id", SetupBlobGet},
      {"blob rm", "delete a blob by file id", SetupBlobRm},
      {"blob assign", "reserve file ids without writing; prints the first", SetupBlobAssign},
      {"cluster status", "masters, datanodes, block groups and free slots (--json for JSON)", SetupClusterStatus},
      {"bench blob", "write N blobs then read them back in random order; requests/s and latency", SetupBenchBlob},
      {"bench meta", "create, look up, stat and unlink N files through the metanodes; ops/s and bytes per file",
       SetupBenchMeta},
      {"blockgroup inspect", "check a block group's .dat/.idx files: superblock, every needle, checksums",
       SetupBlockGroupInspect},
      {"blockgroup fix", "rebuild a block group's .idx by scanning its .dat", SetupBlockGroupFix},
  };
  return table;
}

}  // namespace

int main(int argc, char** argv) { return cfs::cmd::Run(argc, argv, Table()); }
