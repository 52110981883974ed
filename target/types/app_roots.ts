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
      "name": "acceptPublisher",
      "docs": [
        "Second step: the proposed publisher signs to take over."
      ],
      "discriminator": [
        246,
        202,
        23,
        66,
        128,
        30,
        248,
        231
      ],
      "accounts": [
        {
          "name": "newPublisher",
          "signer": true
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "beginClose",
      "docs": [
        "Publisher: stop the app (no more updates); shards are then closed with `close_shards`."
      ],
      "discriminator": [
        42,
        2,
        204,
        207,
        91,
        89,
        124,
        252
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true,
          "relations": [
            "app"
          ]
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "closeShards",
      "docs": [
        "Anyone, once the app is closing: close a batch of shard accounts (remaining accounts),",
        "rent to the publisher; the last batch leaves the app as a tombstone."
      ],
      "discriminator": [
        44,
        76,
        142,
        192,
        252,
        229,
        174,
        130
      ],
      "accounts": [
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        },
        {
          "name": "publisher",
          "writable": true,
          "relations": [
            "app"
          ]
        }
      ],
      "args": []
    },
    {
      "name": "createApp",
      "docs": [
        "Create an app at `[APP_SEED, publisher, app_id]`, its policy and its first root-history",
        "tree (allocated by the caller, owned by spl-account-compression, initialised here with the",
        "app PDA as tree authority)."
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
          "docs": [
            "Creator and first publisher: the app's address is derived from this key."
          ],
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "publisher"
              },
              {
                "kind": "arg",
                "path": "args.app_id"
              }
            ]
          }
        },
        {
          "name": "historyRecord",
          "docs": [
            "Record of history tree 0."
          ],
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  104,
                  105,
                  115,
                  116,
                  111,
                  114,
                  121
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "const",
                "value": [
                  0,
                  0,
                  0,
                  0
                ]
              }
            ]
          }
        },
        {
          "name": "tree",
          "docs": [
            "which refuses an already initialised tree; its size is checked against the shape here."
          ],
          "writable": true
        },
        {
          "name": "compressionProgram",
          "address": "cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK"
        },
        {
          "name": "noopProgram",
          "address": "noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
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
          "signer": true,
          "relations": [
            "app"
          ]
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        },
        {
          "name": "shard",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  104,
                  97,
                  114,
                  100
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "arg",
                "path": "shardId"
              }
            ]
          }
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
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
      "name": "proposePublisher",
      "docs": [
        "Publisher: first step of a publisher rotation."
      ],
      "discriminator": [
        227,
        130,
        69,
        234,
        61,
        8,
        169,
        239
      ],
      "accounts": [
        {
          "name": "publisher",
          "signer": true,
          "relations": [
            "app"
          ]
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "newPublisher",
          "type": "pubkey"
        }
      ]
    },
    {
      "name": "rotateHistory",
      "docs": [
        "Move the history to a new tree: the publisher at any time, anyone once the active tree is",
        "nearly full (reimbursed from the app account's reserve)."
      ],
      "discriminator": [
        107,
        62,
        48,
        114,
        161,
        233,
        105,
        165
      ],
      "accounts": [
        {
          "name": "cranker",
          "docs": [
            "The publisher (any time), or anyone once the active tree is nearly full; a non-publisher is",
            "reimbursed the new accounts' rent from the app account's balance above its own rent."
          ],
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        },
        {
          "name": "historyRecord",
          "docs": [
            "Record of the new tree; `tree_index` must be the active index + 1 (checked in the handler)."
          ],
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  104,
                  105,
                  115,
                  116,
                  111,
                  114,
                  121
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "arg",
                "path": "treeIndex"
              }
            ]
          }
        },
        {
          "name": "newTree",
          "docs": [
            "which refuses an initialised tree; its size is checked against the app's shape."
          ],
          "writable": true
        },
        {
          "name": "compressionProgram",
          "address": "cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK"
        },
        {
          "name": "noopProgram",
          "address": "noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": [
        {
          "name": "treeIndex",
          "type": "u32"
        }
      ]
    },
    {
      "name": "setPolicy",
      "docs": [
        "Publisher: replace the app's policy (allowed pairs, TCB floor, blocked keys)."
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
          "signer": true,
          "relations": [
            "app"
          ]
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
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
          ],
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "tee"
              }
            ],
            "program": {
              "kind": "const",
              "value": [
                80,
                4,
                76,
                144,
                206,
                133,
                27,
                236,
                193,
                101,
                3,
                204,
                113,
                101,
                245,
                46,
                5,
                110,
                76,
                255,
                248,
                144,
                5,
                18,
                199,
                209,
                29,
                26,
                238,
                175,
                213,
                17
              ]
            }
          }
        },
        {
          "name": "app",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  97,
                  112,
                  112
                ]
              },
              {
                "kind": "account",
                "path": "app.creator",
                "account": "app"
              },
              {
                "kind": "account",
                "path": "app.app_id",
                "account": "app"
              }
            ]
          }
        },
        {
          "name": "shard",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  104,
                  97,
                  114,
                  100
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "arg",
                "path": "args.shard_id"
              }
            ]
          }
        },
        {
          "name": "tree",
          "writable": true
        },
        {
          "name": "compressionProgram",
          "address": "cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK"
        },
        {
          "name": "noopProgram",
          "address": "noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV"
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
      "name": "historyTree",
      "discriminator": [
        100,
        212,
        117,
        33,
        254,
        215,
        164,
        78
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
        130,
        109,
        170,
        93,
        43,
        65,
        251,
        150
      ],
      "name": "appClosing"
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
        25,
        142,
        190,
        238,
        93,
        64,
        250,
        245
      ],
      "name": "historyRotated"
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
        126,
        95,
        118,
        171,
        26,
        221,
        126,
        225
      ],
      "name": "publisherProposed"
    },
    {
      "discriminator": [
        172,
        3,
        155,
        134,
        158,
        242,
        73,
        164
      ],
      "name": "publisherRotated"
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
    },
    {
      "discriminator": [
        155,
        216,
        63,
        254,
        150,
        165,
        98,
        239
      ],
      "name": "shardsClosed"
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
      "msg": "policy must allow 1 to 8 distinct pairs, at most 4 blocked keys, a TCB floor of 0-5"
    },
    {
      "code": 7003,
      "name": "treeSizeMismatch",
      "msg": "tree account size does not match the chosen shape"
    },
    {
      "code": 7004,
      "name": "wrongTree",
      "msg": "tree account is not the app's active root-history tree"
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
      "name": "teeNotAllowed",
      "msg": "the TEE key's (measurement, identity) pair is not allowed by the app's policy"
    },
    {
      "code": 7011,
      "name": "teeBlocked",
      "msg": "the TEE key is on the app's block list"
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
      "msg": "shard accounts must be distinct open shards of this app"
    },
    {
      "code": 7018,
      "name": "overflow",
      "msg": "arithmetic overflow"
    },
    {
      "code": 7019,
      "name": "tcbBelowFloor",
      "msg": "the TEE key's TCB status is below the app's floor"
    },
    {
      "code": 7020,
      "name": "historyTreeFull",
      "msg": "the active history tree is full: rotate_history first"
    },
    {
      "code": 7021,
      "name": "appNotActive",
      "msg": "the app is closing or closed"
    },
    {
      "code": 7022,
      "name": "appNotClosing",
      "msg": "the app is not closing"
    },
    {
      "code": 7023,
      "name": "notPendingPublisher",
      "msg": "signer is not the proposed publisher"
    },
    {
      "code": 7024,
      "name": "rotationTooEarly",
      "msg": "only the publisher may rotate a history tree that is not nearly full"
    },
    {
      "code": 7025,
      "name": "rotationUnfunded",
      "msg": "the app cannot reimburse the new tree's rent: fund the app account or rotate as publisher"
    },
    {
      "code": 7026,
      "name": "wrongHistoryRecord",
      "msg": "the history-tree record is not the app's active tree record"
    }
  ],
  "types": [
    {
      "name": "allowedTee",
      "docs": [
        "A (measurement, app identity) pair a TEE key must carry, both from its registry entry."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "measurement",
            "docs": [
              "Measurement digest (registry vocabulary)."
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
              "dstack app id."
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
              "dstack compose hash."
            ],
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
      "name": "app",
      "docs": [
        "One app (PDA `[APP_SEED, creator, app_id]`); also the authority of every history tree."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "creator",
            "docs": [
              "Who created the app; part of the address, never changes."
            ],
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
            "docs": [
              "Current publisher (starts as the creator; rotated in two steps)."
            ],
            "type": "pubkey"
          },
          {
            "name": "pendingPublisher",
            "docs": [
              "Set by `propose_publisher`, cleared by `accept_publisher`."
            ],
            "type": {
              "option": "pubkey"
            }
          },
          {
            "name": "status",
            "type": {
              "defined": {
                "name": "appStatus"
              }
            }
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
            "name": "maxDepth",
            "docs": [
              "Shape of every history tree of this app."
            ],
            "type": "u32"
          },
          {
            "name": "maxBufferSize",
            "type": "u32"
          },
          {
            "name": "activeTree",
            "docs": [
              "The history tree updates append to now."
            ],
            "type": "pubkey"
          },
          {
            "name": "activeTreeIndex",
            "docs": [
              "Index of the active tree (its `HistoryTree` record is `[HISTORY_TREE_SEED, app, index]`)."
            ],
            "type": "u32"
          },
          {
            "name": "activeTreeLeaves",
            "docs": [
              "Leaves appended to the active tree (its next leaf's index)."
            ],
            "type": "u64"
          },
          {
            "name": "historyLen",
            "docs": [
              "Leaves appended over all trees."
            ],
            "type": "u64"
          },
          {
            "name": "createdSlot",
            "type": "u64"
          },
          {
            "name": "closedSlot",
            "docs": [
              "Slot at which the last shard was closed, 0 before."
            ],
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
      "docs": [
        "The last shard is closed: the app is a tombstone from here on."
      ],
      "name": "appClosed",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "historyLen",
            "type": "u64"
          },
          {
            "name": "trees",
            "type": "u32"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "appClosing",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "openShards",
            "type": "u16"
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
            "name": "creator",
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
            "name": "allowed",
            "docs": [
              "Allowed (measurement, identity) pairs: a key passes only if its own pair is listed."
            ],
            "type": {
              "vec": {
                "defined": {
                  "name": "allowedTee"
                }
              }
            }
          },
          {
            "name": "maxTcbStatus",
            "docs": [
              "Worst TCB status accepted (the floor): 0 = UpToDate only, up to 5; the registry's",
              "numbering (`attestation_verifier::TcbStatus`)."
            ],
            "type": "u8"
          },
          {
            "name": "blockedKeys",
            "docs": [
              "TEE keys refused even if their pair is allowed (e.g. a leaked key before governance",
              "revokes it)."
            ],
            "type": {
              "vec": "pubkey"
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
      "name": "appStatus",
      "docs": [
        "Life cycle of an app. `Closed` is a tombstone: the account stays so the address (and every",
        "shard address under it) can never be created again at seq 0."
      ],
      "type": {
        "kind": "enum",
        "variants": [
          {
            "name": "active"
          },
          {
            "name": "closing"
          },
          {
            "name": "closed"
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
      "name": "historyRotated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "previousTree",
            "type": "pubkey"
          },
          {
            "docs": [
              "Leaves the previous tree ended with."
            ],
            "name": "previousLeaves",
            "type": "u64"
          },
          {
            "name": "tree",
            "type": "pubkey"
          },
          {
            "name": "treeIndex",
            "type": "u32"
          },
          {
            "name": "firstHistoryIndex",
            "type": "u64"
          },
          {
            "docs": [
              "Who cranked it, and the rent the app reimbursed them (0 when the publisher paid directly)."
            ],
            "name": "cranker",
            "type": "pubkey"
          },
          {
            "name": "reimbursedLamports",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "historyTree",
      "docs": [
        "One of an app's history trees, in order (PDA `[HISTORY_TREE_SEED, app, index_le]`). Written",
        "once; the tree's leaf count is the next record's `first_history_index` minus this one's (or",
        "the app's `active_tree_leaves` for the active tree)."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "index",
            "type": "u32"
          },
          {
            "name": "tree",
            "docs": [
              "The spl-account-compression tree account (the app PDA is its authority)."
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
            "name": "firstHistoryIndex",
            "docs": [
              "The app's `history_len` when this tree became active (global index of its leaf 0)."
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
      "name": "publisherProposed",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "current",
            "type": "pubkey"
          },
          {
            "name": "proposed",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "publisherRotated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "previous",
            "type": "pubkey"
          },
          {
            "name": "publisher",
            "type": "pubkey"
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
            "name": "historyTree",
            "docs": [
              "History tree holding the latest update's leaf (default before the first update)."
            ],
            "type": "pubkey"
          },
          {
            "name": "leafIndex",
            "docs": [
              "That leaf's index in `history_tree`."
            ],
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
            "docs": [
              "The history tree the leaf went into (one of the app's trees)."
            ],
            "name": "tree",
            "type": "pubkey"
          },
          {
            "docs": [
              "Index of that tree among the app's trees."
            ],
            "name": "treeIndex",
            "type": "u32"
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
              "Index of the leaf in `tree`."
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
      "name": "shardsClosed",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "shardIds",
            "type": {
              "vec": "u16"
            }
          },
          {
            "name": "openShards",
            "type": "u16"
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
              "Unix time of the first registration; 0 only in an account `register` has just created."
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
