/// `SPILLWAY_SECCOMP_PROFILE=default`: shim-configs/seccomp/default.json, built in so that the
/// binary alone has it. A unit test (DefaultProfileTests) fails when the two differ; regenerate
/// this file from the JSON after editing it.
extension SeccompProfile {
    public static let defaultProfileText = #"""
{
  "comment": "spillway's default seccomp profile (SPILLWAY_SECCOMP_PROFILE=default), in Docker's format. Everything is allowed except what a service in a container has no business doing: kernel modules, kexec, reboot, mounts and new namespaces, keyrings, bpf, perf, tracing or reaching into other processes (ptrace, process_vm_*, pidfd_getfd, process_madvise), setting or adjusting the clock (adjtimex included, so even reading the clock discipline through it answers EPERM), swap, quotas. Those answer EPERM whatever capabilities the workload holds (spillway is often root in its container). clone3 answers ENOSYS so that glibc falls back to clone.",
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [
    {
      "architecture": "SCMP_ARCH_X86_64",
      "subArchitectures": [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32"
      ]
    },
    {
      "architecture": "SCMP_ARCH_AARCH64",
      "subArchitectures": [
        "SCMP_ARCH_ARM"
      ]
    },
    {
      "architecture": "SCMP_ARCH_PPC64LE",
      "subArchitectures": [
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC"
      ]
    },
    {
      "architecture": "SCMP_ARCH_S390X",
      "subArchitectures": [
        "SCMP_ARCH_S390"
      ]
    },
    {
      "architecture": "SCMP_ARCH_RISCV64",
      "subArchitectures": []
    }
  ],
  "syscalls": [
    {
      "comment": "administration of the host or the kernel",
      "names": [
        "_sysctl",
        "acct",
        "add_key",
        "adjtimex",
        "bpf",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_settime",
        "clock_settime64",
        "create_module",
        "delete_module",
        "fanotify_init",
        "finit_module",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "get_kernel_syms",
        "init_module",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "nfsservctl",
        "open_by_handle_at",
        "open_tree",
        "pciconfig_iobase",
        "pciconfig_read",
        "pciconfig_write",
        "perf_event_open",
        "pidfd_getfd",
        "pivot_root",
        "process_madvise",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
        "query_module",
        "quotactl",
        "quotactl_fd",
        "reboot",
        "request_key",
        "setdomainname",
        "sethostname",
        "setns",
        "settimeofday",
        "stime",
        "swapoff",
        "swapon",
        "sysfs",
        "syslog",
        "umount",
        "umount2",
        "unshare",
        "uselib",
        "userfaultfd",
        "ustat",
        "vhangup",
        "vm86",
        "vm86old"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1
    },
    {
      "comment": "clone creating a namespace (each condition alone denies; s390 passes flags second)",
      "names": [
        "clone"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "args": [
        {
          "index": 0,
          "value": 131072,
          "valueTwo": 131072,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 33554432,
          "valueTwo": 33554432,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 67108864,
          "valueTwo": 67108864,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 134217728,
          "valueTwo": 134217728,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 268435456,
          "valueTwo": 268435456,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 536870912,
          "valueTwo": 536870912,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 0,
          "value": 1073741824,
          "valueTwo": 1073741824,
          "op": "SCMP_CMP_MASKED_EQ"
        }
      ],
      "excludes": {
        "arches": [
          "s390",
          "s390x"
        ]
      }
    },
    {
      "names": [
        "clone"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "args": [
        {
          "index": 1,
          "value": 131072,
          "valueTwo": 131072,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 33554432,
          "valueTwo": 33554432,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 67108864,
          "valueTwo": 67108864,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 134217728,
          "valueTwo": 134217728,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 268435456,
          "valueTwo": 268435456,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 536870912,
          "valueTwo": 536870912,
          "op": "SCMP_CMP_MASKED_EQ"
        },
        {
          "index": 1,
          "value": 1073741824,
          "valueTwo": 1073741824,
          "op": "SCMP_CMP_MASKED_EQ"
        }
      ],
      "includes": {
        "arches": [
          "s390",
          "s390x"
        ]
      }
    },
    {
      "comment": "ENOSYS, not EPERM: glibc falls back to clone only on ENOSYS, and clone's flags can be checked",
      "names": [
        "clone3"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 38
    }
  ]
}
"""#
}
