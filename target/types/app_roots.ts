/**
 * Program IDL in camelCase format in order to be used in JS/TS.
 *
 * Note that this is only a type helper and is not the actual IDL. The original
 * IDL can be found at `target/idl/app_roots.json`.
 */
export type AppRoots = {
  "address": "5KHFn8SKbs8bkAFcbKPKgzUhqEzyxs4MSPGoZ2u5PNS5",
  "metadata": {
    "name": "appRoots",
    "version": "0.1.0",
    "spec": "0.1.0",
    "description": "Ironroot per-app shard roots: TEE-signed, strictly sequenced shard updates and an append-only root-history tree on spl-account-compression"
  },
  "instructions": [
    {
      "name": "closeApp",
      "docs": [
        "Publisher: close the app and every shard account (passed as remaining accounts) at once."
      ],
      "discriminator": [
        105,
        179,
        4,
        226,
        254,
        210,
        87,
        238
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "writable": true
        }
      ],
      "args": []
    },
    {
      "name": "createApp",
      "docs": [
        "Create an app, its policy and its root-history tree (allocated by the caller, owned by",
        "spl-account-compression, initialised here with the app PDA as tree authority)."
      ],
      "discriminator": [
        165,
        212,
        136,
        33,
        249,
        223,
        246,
        249
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "writable": true
        },
        {
          "name": "tree",
          "docs": [
            "which refuses an already initialised tree; its size is checked against the shape here."
          ],
          "writable": true
        },
        {
          "name": "compressionProgram"
        },
        {
          "name": "noopProgram"
        },
        {
          "name": "systemProgram"
        }
      ],
      "args": [
        {
          "name": "args",
          "type": {
            "defined": {
              "name": "createAppArgs"
            }
          }
        }
      ]
    },
    {
      "name": "initShard",
      "docs": [
        "Create the account of one shard (seq 0, all-zero root)."
      ],
      "discriminator": [
        52,
        43,
        132,
        208,
        128,
        105,
        135,
        39
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "writable": true
        },
        {
          "name": "shard",
          "writable": true
        },
        {
          "name": "systemProgram"
        }
      ],
      "args": [
        {
          "name": "shardId",
          "type": "u16"
        }
      ]
    },
    {
      "name": "setPolicy",
      "docs": [
        "Publisher: replace the app's policy (e.g. stop allowing a measurement)."
      ],
      "discriminator": [
        40,
        133,
        12,
        157,
        235,
        202,
        2,
        132
      ],
      "accounts": [
        {
          "name": "publisher",
          "signer": true
        },
        {
          "name": "app",
          "writable": true
        }
      ],
      "args": [
        {
          "name": "policy",
          "type": {
            "defined": {
              "name": "appPolicy"
            }
          }
        }
      ]
    },
    {
      "name": "updateShard",
      "docs": [
        "A TEE-signed shard update: `new_seq == seq + 1`, `prev_root == root`."
      ],
      "discriminator": [
        71,
        71,
        139,
        30,
        34,
        6,
        133,
        223
      ],
      "accounts": [
        {
          "name": "tee",
          "docs": [
            "The TEE key; the fee payer may be another account (both sign the transaction)."
          ],
          "signer": true
        },
        {
          "name": "teeEntry",
          "docs": [
            "The key's registry entry: owner (registry program) and seeds checked."
          ]
        },
        {
          "name": "app",
          "writable": true
        },
        {
          "name": "shard",
          "writable": true
        },
        {
          "name": "tree",
          "writable": true
        },
        {
          "name": "compressionProgram"
        },
        {
          "name": "noopProgram"
        }
      ],
      "args": [
        {
          "name": "args",
          "type": {
            "defined": {
              "name": "updateShardArgs"
            }
          }
        }
      ]
    }
  ],
  "accounts": [
    {
      "name": "app",
      "discriminator": [
        67,
        135,
        84,
        79,
        153,
        49,
        239,
        169
      ]
    },
    {
      "name": "shard",
      "discriminator": [
        141,
        83,
        41,
        244,
        139,
        88,
        245,
        70
      ]
    },
    {
      "name": "teeEntry",
      "discriminator": [
        220,
        243,
        111,
        245,
        19,
        180,
        223,
        194
      ]
    }
  ],
  "events": [
    {
      "discriminator": [
        155,
        89,
        206,
        216,
        78,
        230,
        72,
        156
      ],
      "name": "appClosed"
    },
    {
      "discriminator": [
        245,
        156,
        226,
        46,
        66,
        67,
        65,
        176
      ],
      "name": "appCreated"
    },
    {
      "discriminator": [
        225,
        112,
        112,
        67,
        95,
        236,
        245,
        161
      ],
      "name": "policyUpdated"
    },
    {
      "discriminator": [
        183,
        80,
        70,
        77,
        210,
        226,
        161,
        150
      ],
      "name": "shardInitialized"
    },
    {
      "discriminator": [
        230,
        149,
        91,
        192,
        202,
        122,
        221,
        228
      ],
      "name": "shardUpdated"
    }
  ],
  "errors": [
    {
      "code": 7000,
      "name": "treeShapeNotAllowed",
      "msg": "tree depth and buffer size are not an allowed shape"
    },
    {
      "code": 7001,
      "name": "invalidShardCount",
      "msg": "shard count must be between 1 and 256"
    },
    {
      "code": 7002,
      "name": "invalidPolicy",
      "msg": "policy must allow at least one measurement and identity, within the limits"
    },
    {
      "code": 7003,
      "name": "treeSizeMismatch",
      "msg": "tree account size does not match the chosen shape"
    },
    {
      "code": 7004,
      "name": "wrongTree",
      "msg": "tree account is not the app's root-history tree"
    },
    {
      "code": 7005,
      "name": "shardOutOfRange",
      "msg": "shard id is outside the app's shard range"
    },
    {
      "code": 7006,
      "name": "notPublisher",
      "msg": "signer is not the app's publisher"
    },
    {
      "code": 7007,
      "name": "teeRevoked",
      "msg": "the TEE key is revoked"
    },
    {
      "code": 7008,
      "name": "teeExpired",
      "msg": "the TEE key's registration has expired"
    },
    {
      "code": 7009,
      "name": "keyValidityTooShort",
      "msg": "the TEE key expires sooner than the app's policy requires"
    },
    {
      "code": 7010,
      "name": "measurementNotAllowed",
      "msg": "the TEE key's measurement is not allowed by the app's policy"
    },
    {
      "code": 7011,
      "name": "identityNotAllowed",
      "msg": "the TEE key's app identity is not allowed by the app's policy"
    },
    {
      "code": 7012,
      "name": "sequenceReplay",
      "msg": "update repeats the shard's current sequence number (replay)"
    },
    {
      "code": 7013,
      "name": "sequenceRollback",
      "msg": "update carries a sequence number below the shard's (rollback)"
    },
    {
      "code": 7014,
      "name": "sequenceGap",
      "msg": "update skips sequence numbers (gap)"
    },
    {
      "code": 7015,
      "name": "rootMismatch",
      "msg": "update's previous root is not the shard's root (fork)"
    },
    {
      "code": 7016,
      "name": "invalidCid",
      "msg": "manifest CID is empty or too long"
    },
    {
      "code": 7017,
      "name": "shardAccountsMismatch",
      "msg": "close_app needs every open shard account of the app, once each"
    },
    {
      "code": 7018,
      "name": "overflow",
      "msg": "arithmetic overflow"
    }
  ],
  "types": [
    {
      "name": "app",
      "docs": [
        "One app (PDA `[APP_SEED, app_id]`); also the authority of its root-history tree."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "publisher",
            "type": "pubkey"
          },
          {
            "name": "appId",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "tree",
            "docs": [
              "The app's concurrent Merkle tree (root history)."
            ],
            "type": "pubkey"
          },
          {
            "name": "maxDepth",
            "type": "u32"
          },
          {
            "name": "maxBufferSize",
            "type": "u32"
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "appPolicy"
              }
            }
          },
          {
            "name": "shardCount",
            "type": "u16"
          },
          {
            "name": "openShards",
            "docs": [
              "Shard accounts created and not closed."
            ],
            "type": "u16"
          },
          {
            "name": "historyLen",
            "docs": [
              "Leaves appended to the history tree so far (the next leaf's index)."
            ],
            "type": "u64"
          },
          {
            "name": "createdSlot",
            "type": "u64"
          },
          {
            "name": "bump",
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "appClosed",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "shardsClosed",
            "type": "u16"
          },
          {
            "name": "historyLen",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "appCreated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "appId",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "publisher",
            "type": "pubkey"
          },
          {
            "name": "tree",
            "type": "pubkey"
          },
          {
            "name": "maxDepth",
            "type": "u32"
          },
          {
            "name": "maxBufferSize",
            "type": "u32"
          },
          {
            "name": "shardCount",
            "type": "u16"
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "appPolicy"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "appPolicy",
      "docs": [
        "Which registered TEE keys may write this app's shards."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "measurements",
            "docs": [
              "Measurement digests (registry vocabulary) allowed to serve the app."
            ],
            "type": {
              "vec": {
                "array": [
                  "u8",
                  32
                ]
              }
            }
          },
          {
            "name": "identities",
            "docs": [
              "App identities (app id + compose hash) allowed to serve the app."
            ],
            "type": {
              "vec": {
                "defined": {
                  "name": "teeIdentity"
                }
              }
            }
          },
          {
            "name": "minKeyValiditySecs",
            "docs": [
              "A signing key must stay valid at least this long after the update, in seconds."
            ],
            "type": "i64"
          }
        ]
      }
    },
    {
      "name": "createAppArgs",
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "appId",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "shardCount",
            "type": "u16"
          },
          {
            "name": "maxDepth",
            "type": "u32"
          },
          {
            "name": "maxBufferSize",
            "type": "u32"
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "appPolicy"
              }
            }
          }
        ]
      }
    },
    {
      "name": "policyUpdated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "appPolicy"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "shard",
      "docs": [
        "The latest state of one shard (PDA `[SHARD_SEED, app, shard_id_le]`)."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "seq",
            "docs": [
              "0 until the first update; each update adds exactly 1."
            ],
            "type": "u64"
          },
          {
            "name": "root",
            "docs": [
              "All zeros until the first update."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "manifestCid",
            "docs": [
              "Binary CID of the encrypted manifest that rebuilds this root (empty before the first update)."
            ],
            "type": "bytes"
          },
          {
            "name": "updatedSlot",
            "type": "u64"
          },
          {
            "name": "lastSigner",
            "docs": [
              "TEE key of the latest update."
            ],
            "type": "pubkey"
          },
          {
            "name": "bump",
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "shardInitialized",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "shardId",
            "type": "u16"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "docs": [
        "One accepted shard update: everything needed to rebuild the root history off-chain. Also",
        "written through spl-noop as instruction data (the same bytes), which survives log truncation."
      ],
      "name": "shardUpdated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "seq",
            "type": "u64"
          },
          {
            "name": "prevRoot",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "root",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "manifestCid",
            "type": "bytes"
          },
          {
            "name": "slot",
            "type": "u64"
          },
          {
            "name": "signer",
            "type": "pubkey"
          },
          {
            "docs": [
              "Index of the history leaf this update appended."
            ],
            "name": "leafIndex",
            "type": "u64"
          },
          {
            "name": "leaf",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeEntry",
      "docs": [
        "What the registry knows about one TEE signing key."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "teePubkey",
            "docs": [
              "The TEE's ed25519 signing key."
            ],
            "type": "pubkey"
          },
          {
            "name": "measurement",
            "docs": [
              "Digest of MRTD‖RTMR0‖RTMR1‖RTMR2 (TDX) or of MRENCLAVE/MRSIGNER (SGX)."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "appId",
            "docs": [
              "dstack app id the key serves."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "composeHash",
            "docs": [
              "dstack compose hash of that app."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "statementHash",
            "docs": [
              "SHA-256 of the attestation statement the attesters signed (latest registration)."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "quoteHash",
            "docs": [
              "SHA-256 of the quote the attesters verified (latest registration)."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "tcbStatus",
            "docs": [
              "TCB status the attesters reported (see `attestation_verifier::TcbStatus`)."
            ],
            "type": "u8"
          },
          {
            "name": "registeredAt",
            "docs": [
              "Unix time of the first registration."
            ],
            "type": "i64"
          },
          {
            "name": "refreshedAt",
            "docs": [
              "Unix time of the latest registration or refresh."
            ],
            "type": "i64"
          },
          {
            "name": "expiresAt",
            "docs": [
              "Unix time after which the key is no longer valid."
            ],
            "type": "i64"
          },
          {
            "name": "lastNonce",
            "docs": [
              "Nonce of the latest accepted statement; a new statement must carry a larger one."
            ],
            "type": "u64"
          },
          {
            "name": "revoked",
            "type": "bool"
          },
          {
            "name": "revokedAt",
            "docs": [
              "Unix time of revocation, 0 while not revoked."
            ],
            "type": "i64"
          },
          {
            "name": "bump",
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "teeIdentity",
      "docs": [
        "A dstack app identity a TEE key may carry (from its registry entry)."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "appId",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "composeHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          }
        ]
      }
    },
    {
      "name": "updateShardArgs",
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "prevRoot",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "newRoot",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "newSeq",
            "type": "u64"
          },
          {
            "name": "manifestCid",
            "docs": [
              "Binary CID of the encrypted shard manifest for `new_root`."
            ],
            "type": "bytes"
          }
        ]
      }
    }
  ]
};
