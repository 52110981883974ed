/**
 * Program IDL in camelCase format in order to be used in JS/TS.
 *
 * Note that this is only a type helper and is not the actual IDL. The original
 * IDL can be found at `target/idl/storage_stake.json`.
 */
export type StorageStake = {
  "address": "Buz3HwiitBnmLyVNCUJS3C8rNtmNQF1K12DTwPKYpBSx",
  "metadata": {
    "name": "storageStake",
    "version": "0.1.0",
    "spec": "0.1.0",
    "description": "Ironroot storage stake: provider stake in SPL tokens, slot-hash challenges answered with JMT proofs against the live shard root, slashing, corruption reports, paid storage with a grace period, retrieval requests"
  },
  "instructions": [
    {
      "name": "answerChallenge",
      "docs": [
        "The provider's TEE: prove the targeted leaf against the shard's live root."
      ],
      "discriminator": [
        20,
        121,
        207,
        120,
        205,
        130,
        71,
        42
      ],
      "accounts": [
        {
          "name": "tee",
          "signer": true
        },
        {
          "name": "teeEntry",
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
          "relations": [
            "stake"
          ]
        },
        {
          "name": "shard",
          "docs": [
            "The challenged shard, read as it is now (owner and type checked; its app and id below)."
          ]
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "args",
          "type": {
            "defined": {
              "name": "answerChallengeArgs"
            }
          }
        }
      ]
    },
    {
      "name": "answerRetrieval",
      "docs": [
        "The provider's TEE: answer with the export's CID and the shard root it holds."
      ],
      "discriminator": [
        210,
        23,
        83,
        64,
        12,
        99,
        157,
        79
      ],
      "accounts": [
        {
          "name": "tee",
          "signer": true
        },
        {
          "name": "teeEntry",
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
          "relations": [
            "stake"
          ]
        },
        {
          "name": "shard"
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "args",
          "type": {
            "defined": {
              "name": "answerRetrievalArgs"
            }
          }
        }
      ]
    },
    {
      "name": "applyTerms",
      "docs": [
        "Anyone: apply proposed terms once their notice has run."
      ],
      "discriminator": [
        111,
        196,
        224,
        46,
        4,
        227,
        218,
        146
      ],
      "accounts": [
        {
          "name": "terms",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "terms.app",
                "account": "stakeTerms"
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "bindTee",
      "docs": [
        "Provider and TEE key together: bind a registered TEE key the app allows to the stake."
      ],
      "discriminator": [
        227,
        250,
        184,
        160,
        67,
        16,
        113,
        64
      ],
      "accounts": [
        {
          "name": "provider",
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "tee",
          "docs": [
            "The TEE key consents too, so no provider can claim another's TEE as its own."
          ],
          "signer": true
        },
        {
          "name": "teeEntry",
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
          "relations": [
            "stake"
          ]
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "claimPayment",
      "docs": [
        "Provider: claim the whole epochs served that the escrow can pay (and any bond credit)."
      ],
      "discriminator": [
        69,
        112,
        250,
        167,
        37,
        156,
        200,
        30
      ],
      "accounts": [
        {
          "name": "provider",
          "writable": true,
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "providerToken",
          "writable": true
        },
        {
          "name": "mint",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "tokenProgram"
        }
      ],
      "args": []
    },
    {
      "name": "fund",
      "docs": [
        "Publisher: add tokens to the payment escrow."
      ],
      "discriminator": [
        218,
        188,
        111,
        221,
        152,
        113,
        174,
        7
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "publisherToken",
          "writable": true
        },
        {
          "name": "mint",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "tokenProgram"
        }
      ],
      "args": [
        {
          "name": "amount",
          "type": "u64"
        }
      ]
    },
    {
      "name": "initTerms",
      "docs": [
        "Publisher: create the app's stake terms (mint, windows, splits, bond, payment)."
      ],
      "discriminator": [
        232,
        2,
        64,
        211,
        160,
        27,
        187,
        182
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app"
        },
        {
          "name": "mint"
        },
        {
          "name": "terms",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "tokenProgram"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": [
        {
          "name": "params",
          "type": {
            "defined": {
              "name": "termsParams"
            }
          }
        }
      ]
    },
    {
      "name": "openChallenge",
      "docs": [
        "Publisher: challenge a provider (posts the bond); the target comes from the latest slot hash.",
        "Remaining accounts: every shard account of the app, in shard-id order."
      ],
      "discriminator": [
        56,
        176,
        3,
        12,
        28,
        205,
        10,
        5
      ],
      "accounts": [
        {
          "name": "publisher",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "slotHashes",
          "address": "SysvarS1otHashes111111111111111111111111111"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": []
    },
    {
      "name": "openStake",
      "docs": [
        "Provider: create its stake account, stake vault and payment escrow for an app."
      ],
      "discriminator": [
        136,
        215,
        163,
        130,
        234,
        194,
        229,
        229
      ],
      "accounts": [
        {
          "name": "provider",
          "writable": true,
          "signer": true
        },
        {
          "name": "app",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "mint",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        },
        {
          "name": "vault",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  97,
                  117,
                  108,
                  116
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "tokenProgram"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": []
    },
    {
      "name": "proposeTerms",
      "docs": [
        "Publisher: propose new terms; they apply after a notice of cool-down + answer window."
      ],
      "discriminator": [
        43,
        146,
        195,
        161,
        215,
        132,
        135,
        12
      ],
      "accounts": [
        {
          "name": "publisher",
          "signer": true
        },
        {
          "name": "app",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "terms",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "params",
          "type": {
            "defined": {
              "name": "termsParams"
            }
          }
        }
      ]
    },
    {
      "name": "reportCorruption",
      "docs": [
        "The provider's TEE: report corruption, opening a challenge on itself with a recovery deadline.",
        "Remaining accounts: every shard account of the app, in shard-id order."
      ],
      "discriminator": [
        190,
        217,
        122,
        202,
        172,
        178,
        204,
        90
      ],
      "accounts": [
        {
          "name": "tee",
          "signer": true
        },
        {
          "name": "teeEntry",
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
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "slotHashes",
          "address": "SysvarS1otHashes111111111111111111111111111"
        }
      ],
      "args": []
    },
    {
      "name": "requestRetrieval",
      "docs": [
        "Publisher: ask for an encrypted export of one shard's committed state."
      ],
      "discriminator": [
        156,
        39,
        3,
        24,
        48,
        108,
        12,
        138
      ],
      "accounts": [
        {
          "name": "publisher",
          "signer": true
        },
        {
          "name": "app",
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "shard"
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
      "name": "requestUnstake",
      "docs": [
        "Provider: start the cool-down (refused with an open challenge, retrieval or grace obligation)."
      ],
      "discriminator": [
        44,
        154,
        110,
        253,
        160,
        202,
        54,
        34
      ],
      "accounts": [
        {
          "name": "provider",
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "slash",
      "docs": [
        "Anyone, after a deadline: slash the stake per the terms' split."
      ],
      "discriminator": [
        204,
        141,
        18,
        161,
        8,
        177,
        92,
        142
      ],
      "accounts": [
        {
          "name": "app",
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "stake.provider",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "vault",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  97,
                  117,
                  108,
                  116
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "mint",
          "docs": [
            "Writable: the burned share reduces its supply."
          ],
          "writable": true,
          "relations": [
            "terms"
          ]
        },
        {
          "name": "publisherToken",
          "writable": true
        },
        {
          "name": "providerToken",
          "docs": [
            "Receives the corruption refund (unused for other slashes)."
          ],
          "writable": true
        },
        {
          "name": "publisher",
          "writable": true
        },
        {
          "name": "tokenProgram"
        }
      ],
      "args": []
    },
    {
      "name": "stake",
      "docs": [
        "Provider: deposit tokens into the stake vault."
      ],
      "discriminator": [
        206,
        176,
        202,
        18,
        200,
        209,
        179,
        108
      ],
      "accounts": [
        {
          "name": "provider",
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        },
        {
          "name": "vault",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  97,
                  117,
                  108,
                  116
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "providerToken",
          "writable": true
        },
        {
          "name": "mint",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "tokenProgram"
        }
      ],
      "args": [
        {
          "name": "amount",
          "type": "u64"
        }
      ]
    },
    {
      "name": "unbindTee",
      "docs": [
        "Provider: unbind a TEE key."
      ],
      "discriminator": [
        176,
        98,
        27,
        26,
        152,
        82,
        124,
        238
      ],
      "accounts": [
        {
          "name": "provider",
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "stake.app",
                "account": "providerStake"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "tee",
          "type": "pubkey"
        }
      ]
    },
    {
      "name": "withdraw",
      "docs": [
        "Provider: after the cool-down, take the stake and the accrued payment back and close."
      ],
      "discriminator": [
        183,
        18,
        70,
        156,
        148,
        109,
        161,
        34
      ],
      "accounts": [
        {
          "name": "provider",
          "writable": true,
          "signer": true,
          "relations": [
            "stake"
          ]
        },
        {
          "name": "app",
          "relations": [
            "terms",
            "stake"
          ]
        },
        {
          "name": "terms",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  116,
                  101,
                  114,
                  109,
                  115
                ]
              },
              {
                "kind": "account",
                "path": "app"
              }
            ]
          }
        },
        {
          "name": "stake",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  115,
                  116,
                  97,
                  107,
                  101
                ]
              },
              {
                "kind": "account",
                "path": "app"
              },
              {
                "kind": "account",
                "path": "provider"
              }
            ]
          }
        },
        {
          "name": "vault",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  97,
                  117,
                  108,
                  116
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "escrow",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  101,
                  115,
                  99,
                  114,
                  111,
                  119
                ]
              },
              {
                "kind": "account",
                "path": "stake"
              }
            ]
          }
        },
        {
          "name": "providerToken",
          "writable": true
        },
        {
          "name": "publisherToken",
          "writable": true
        },
        {
          "name": "publisher",
          "writable": true
        },
        {
          "name": "mint",
          "relations": [
            "terms"
          ]
        },
        {
          "name": "tokenProgram"
        }
      ],
      "args": []
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
      "name": "providerStake",
      "discriminator": [
        39,
        255,
        183,
        188,
        247,
        241,
        155,
        213
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
      "name": "stakeTerms",
      "discriminator": [
        7,
        172,
        171,
        241,
        38,
        128,
        223,
        188
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
        82,
        102,
        217,
        179,
        218,
        13,
        156,
        248
      ],
      "name": "challengeAnswered"
    },
    {
      "discriminator": [
        42,
        83,
        165,
        62,
        80,
        17,
        63,
        181
      ],
      "name": "challengeOpened"
    },
    {
      "discriminator": [
        67,
        84,
        56,
        88,
        192,
        12,
        201,
        177
      ],
      "name": "funded"
    },
    {
      "discriminator": [
        238,
        86,
        136,
        254,
        229,
        217,
        63,
        80
      ],
      "name": "paymentClaimed"
    },
    {
      "discriminator": [
        108,
        125,
        178,
        43,
        90,
        98,
        225,
        34
      ],
      "name": "retrievalAnswered"
    },
    {
      "discriminator": [
        104,
        247,
        199,
        227,
        180,
        92,
        173,
        122
      ],
      "name": "retrievalRequested"
    },
    {
      "discriminator": [
        98,
        59,
        249,
        154,
        233,
        53,
        98,
        194
      ],
      "name": "slashed"
    },
    {
      "discriminator": [
        224,
        249,
        211,
        227,
        9,
        83,
        142,
        188
      ],
      "name": "stakeOpened"
    },
    {
      "discriminator": [
        11,
        146,
        45,
        205,
        230,
        58,
        213,
        240
      ],
      "name": "staked"
    },
    {
      "discriminator": [
        74,
        48,
        15,
        25,
        201,
        199,
        118,
        28
      ],
      "name": "teeBound"
    },
    {
      "discriminator": [
        14,
        108,
        42,
        196,
        21,
        245,
        134,
        194
      ],
      "name": "teeUnbound"
    },
    {
      "discriminator": [
        145,
        202,
        29,
        228,
        144,
        248,
        232,
        54
      ],
      "name": "termsApplied"
    },
    {
      "discriminator": [
        105,
        99,
        183,
        211,
        83,
        116,
        121,
        35
      ],
      "name": "termsCreated"
    },
    {
      "discriminator": [
        222,
        255,
        13,
        12,
        152,
        178,
        77,
        34
      ],
      "name": "termsProposed"
    },
    {
      "discriminator": [
        21,
        253,
        177,
        85,
        129,
        206,
        42,
        152
      ],
      "name": "unstakeRequested"
    },
    {
      "discriminator": [
        20,
        89,
        223,
        198,
        194,
        124,
        219,
        13
      ],
      "name": "withdrawn"
    }
  ],
  "errors": [
    {
      "code": 8000,
      "name": "invalidTerms",
      "msg": "terms are out of range (windows > 0, shares <= 10000 bps, epoch > 0, minimum stake > 0)"
    },
    {
      "code": 8001,
      "name": "notPublisher",
      "msg": "signer is not the app's publisher"
    },
    {
      "code": 8002,
      "name": "wrongMint",
      "msg": "the mint is not the terms' mint"
    },
    {
      "code": 8003,
      "name": "wrongTokenProgram",
      "msg": "the token program is not the one that owns the terms' mint"
    },
    {
      "code": 8004,
      "name": "wrongTokenAccount",
      "msg": "token account has the wrong owner or mint"
    },
    {
      "code": 8005,
      "name": "zeroAmount",
      "msg": "amount must be greater than zero"
    },
    {
      "code": 8006,
      "name": "belowMinimumStake",
      "msg": "the stake would stay below the terms' minimum"
    },
    {
      "code": 8007,
      "name": "overflow",
      "msg": "arithmetic overflow"
    },
    {
      "code": 8008,
      "name": "slashed",
      "msg": "the provider has been slashed"
    },
    {
      "code": 8009,
      "name": "unstaking",
      "msg": "the stake is unstaking: no more deposits"
    },
    {
      "code": 8010,
      "name": "notUnstaking",
      "msg": "the stake is not unstaking"
    },
    {
      "code": 8011,
      "name": "cooldownNotOver",
      "msg": "the unstake cool-down has not ended"
    },
    {
      "code": 8012,
      "name": "challengeOpen",
      "msg": "a challenge is open"
    },
    {
      "code": 8013,
      "name": "retrievalOpen",
      "msg": "a retrieval request is open"
    },
    {
      "code": 8014,
      "name": "graceObligation",
      "msg": "the escrow ran dry and the grace period is running: the provider stays bound"
    },
    {
      "code": 8015,
      "name": "serviceLapsed",
      "msg": "the escrow ran dry and the grace period is over: the provider owes no more service"
    },
    {
      "code": 8016,
      "name": "challengeRateLimited",
      "msg": "too soon after the previous challenge (rate limit)"
    },
    {
      "code": 8017,
      "name": "retrievalRateLimited",
      "msg": "too soon after the previous retrieval request (rate limit)"
    },
    {
      "code": 8018,
      "name": "noStake",
      "msg": "the provider has no stake"
    },
    {
      "code": 8019,
      "name": "shardAccountsMismatch",
      "msg": "pass every shard account of the app, in shard-id order"
    },
    {
      "code": 8020,
      "name": "nothingToChallenge",
      "msg": "every shard of the app is empty: nothing to challenge"
    },
    {
      "code": 8021,
      "name": "noOpenChallenge",
      "msg": "no challenge is open"
    },
    {
      "code": 8022,
      "name": "deadlinePassed",
      "msg": "the answer deadline has passed"
    },
    {
      "code": 8023,
      "name": "teeNotBound",
      "msg": "the TEE key is not bound to this provider's stake"
    },
    {
      "code": 8024,
      "name": "tooManyTeeKeys",
      "msg": "the stake already has the maximum number of TEE keys"
    },
    {
      "code": 8025,
      "name": "teeAlreadyBound",
      "msg": "the TEE key is already bound"
    },
    {
      "code": 8026,
      "name": "shardMismatch",
      "msg": "the shard account is not the challenged shard of this app"
    },
    {
      "code": 8027,
      "name": "proofMalformed",
      "msg": "the proof is malformed (depth, bitmap or sibling count)"
    },
    {
      "code": 8028,
      "name": "proofRootMismatch",
      "msg": "the proof does not lead to the shard's current root"
    },
    {
      "code": 8029,
      "name": "targetMismatch",
      "msg": "the exhibited leaf is not the one the challenge's target point selects"
    },
    {
      "code": 8030,
      "name": "noOpenRetrieval",
      "msg": "no retrieval request is open"
    },
    {
      "code": 8031,
      "name": "retrievalRootMismatch",
      "msg": "the export's root is not the shard's committed root"
    },
    {
      "code": 8032,
      "name": "invalidCid",
      "msg": "CID is empty or too long"
    },
    {
      "code": 8033,
      "name": "slashTooEarly",
      "msg": "the deadline has not passed yet"
    },
    {
      "code": 8034,
      "name": "nothingToSlash",
      "msg": "nothing is overdue: no open challenge or retrieval"
    },
    {
      "code": 8035,
      "name": "noPendingTerms",
      "msg": "no terms change is pending"
    },
    {
      "code": 8036,
      "name": "noticeNotOver",
      "msg": "the notice period of the pending terms has not ended"
    },
    {
      "code": 8037,
      "name": "nothingToClaim",
      "msg": "nothing has accrued"
    },
    {
      "code": 8038,
      "name": "slotHashesUnavailable",
      "msg": "the slot hashes sysvar has no entry"
    },
    {
      "code": 8039,
      "name": "wrongVault",
      "msg": "the account is not this stake's vault or escrow"
    },
    {
      "code": 8040,
      "name": "shardOutOfRange",
      "msg": "the shard id is outside the app's shard range"
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
      "name": "answerChallengeArgs",
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "proof",
            "docs": [
              "The leaf the challenge's point selects, proven against the shard's live root."
            ],
            "type": {
              "defined": {
                "name": "leafProof"
              }
            }
          },
          {
            "name": "possessionTag",
            "docs": [
              "`SHA-256(challenge nonce ‖ ciphertext)`, computed in the TEE after fetching the leaf's blob",
              "and checking its hash."
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
      "name": "answerRetrievalArgs",
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "exportCid",
            "docs": [
              "Binary CID of the encrypted export (readable only with the app's keys)."
            ],
            "type": "bytes"
          },
          {
            "name": "root",
            "docs": [
              "The shard root the export holds: must be the committed one."
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
      "name": "challenge",
      "docs": [
        "An open challenge: the provider must prove, against the shard's root at answer time, the leaf",
        "that `point` selects in shard `shard_id`."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "kind",
            "type": {
              "defined": {
                "name": "challengeKind"
              }
            }
          },
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "point",
            "docs": [
              "Target point in the shard's 256-bit key space."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "nonce",
            "docs": [
              "Mixed into the possession tag `H(nonce ‖ ciphertext)`."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "openedSeq",
            "docs": [
              "The shard's seq and root when the challenge opened (the answer uses the live root)."
            ],
            "type": "u64"
          },
          {
            "name": "openedRoot",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "sourceSlot",
            "docs": [
              "The slot whose hash the target was derived from."
            ],
            "type": "u64"
          },
          {
            "name": "openedAt",
            "type": "i64"
          },
          {
            "name": "deadline",
            "type": "i64"
          },
          {
            "name": "bondLamports",
            "type": "u64"
          },
          {
            "name": "bondToProvider",
            "type": "bool"
          }
        ]
      }
    },
    {
      "name": "challengeAnswered",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "kind",
            "type": {
              "defined": {
                "name": "challengeKind"
              }
            }
          },
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "docs": [
              "The live shard state the proof was checked against."
            ],
            "name": "seq",
            "type": "u64"
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
            "name": "leafKeyHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "leafValueHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "possessionTag",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "tee",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "challengeKind",
      "type": {
        "kind": "enum",
        "variants": [
          {
            "name": "publisher"
          },
          {
            "name": "corruption"
          }
        ]
      }
    },
    {
      "name": "challengeOpened",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "kind",
            "type": {
              "defined": {
                "name": "challengeKind"
              }
            }
          },
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "point",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "nonce",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "seq",
            "type": "u64"
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
            "name": "sourceSlot",
            "type": "u64"
          },
          {
            "name": "deadline",
            "type": "i64"
          },
          {
            "name": "bondLamports",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "funded",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "received",
            "type": "u64"
          },
          {
            "name": "paidThrough",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "leafProof",
      "docs": [
        "A proof of one leaf: its key hash and value hash, and its siblings bottom first."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "keyHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "valueHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "depth",
            "docs": [
              "Number of siblings (the leaf's depth)."
            ],
            "type": "u16"
          },
          {
            "name": "emptySiblings",
            "docs": [
              "Bit `i` (byte `i / 8`, least significant bit first) set: sibling `i` (bottom first) is",
              "empty. Exactly `ceil(depth / 8)` bytes, unused bits zero."
            ],
            "type": "bytes"
          },
          {
            "name": "siblings",
            "docs": [
              "Hashes of the non-empty siblings, bottom first."
            ],
            "type": {
              "vec": {
                "array": [
                  "u8",
                  32
                ]
              }
            }
          }
        ]
      }
    },
    {
      "name": "paymentClaimed",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "epochs",
            "type": "u64"
          },
          {
            "name": "amount",
            "type": "u64"
          },
          {
            "name": "paidThrough",
            "type": "i64"
          },
          {
            "name": "bondLamports",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "providerStake",
      "docs": [
        "One provider's stake for one app (PDA `[STAKE_SEED, app, provider]`), with its open challenge,",
        "open retrieval request and payment state."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "provider",
            "type": "pubkey"
          },
          {
            "name": "mint",
            "type": "pubkey"
          },
          {
            "name": "amount",
            "docs": [
              "Tokens in the stake vault."
            ],
            "type": "u64"
          },
          {
            "name": "status",
            "type": {
              "defined": {
                "name": "stakeStatus"
              }
            }
          },
          {
            "name": "unlockAt",
            "docs": [
              "When `withdraw` becomes possible (while unstaking)."
            ],
            "type": "i64"
          },
          {
            "name": "teeKeys",
            "docs": [
              "TEE keys (registered, consenting) that answer for this provider."
            ],
            "type": {
              "vec": "pubkey"
            }
          },
          {
            "name": "challenge",
            "type": {
              "option": {
                "defined": {
                  "name": "challenge"
                }
              }
            }
          },
          {
            "name": "challengesOpened",
            "docs": [
              "Challenges opened so far (publisher and corruption); seeds the next target."
            ],
            "type": "u64"
          },
          {
            "name": "lastChallengeAt",
            "type": "i64"
          },
          {
            "name": "retrieval",
            "type": {
              "option": {
                "defined": {
                  "name": "retrieval"
                }
              }
            }
          },
          {
            "name": "lastRetrievalAt",
            "type": "i64"
          },
          {
            "name": "funded",
            "docs": [
              "Whether the publisher ever funded the escrow (a grace obligation needs a paid service)."
            ],
            "type": "bool"
          },
          {
            "name": "paidThrough",
            "docs": [
              "Service up to here is paid; the escrow pays whole epochs from here on."
            ],
            "type": "i64"
          },
          {
            "name": "providerBondCredit",
            "docs": [
              "Bond lamports held in this account, owed to the provider / the publisher."
            ],
            "type": "u64"
          },
          {
            "name": "publisherBondCredit",
            "type": "u64"
          },
          {
            "name": "createdAt",
            "type": "i64"
          },
          {
            "name": "bump",
            "type": "u8"
          },
          {
            "name": "vaultBump",
            "type": "u8"
          },
          {
            "name": "escrowBump",
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "retrieval",
      "docs": [
        "An open retrieval request for one shard's committed state."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "shardId",
            "type": "u16"
          },
          {
            "name": "requestedSeq",
            "docs": [
              "The shard's seq at request time: the export must be at least that recent."
            ],
            "type": "u64"
          },
          {
            "name": "requestedAt",
            "type": "i64"
          },
          {
            "name": "deadline",
            "type": "i64"
          }
        ]
      }
    },
    {
      "name": "retrievalAnswered",
      "type": {
        "fields": [
          {
            "name": "stake",
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
            "name": "root",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "exportCid",
            "type": "bytes"
          },
          {
            "name": "tee",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "retrievalRequested",
      "type": {
        "fields": [
          {
            "name": "stake",
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
            "name": "deadline",
            "type": "i64"
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
      "name": "slashed",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "provider",
            "type": "pubkey"
          },
          {
            "docs": [
              "What was overdue: a challenge of this kind, or (None) a retrieval request."
            ],
            "name": "challengeKind",
            "type": {
              "option": {
                "defined": {
                  "name": "challengeKind"
                }
              }
            }
          },
          {
            "name": "toPublisher",
            "type": "u64"
          },
          {
            "name": "burned",
            "type": "u64"
          },
          {
            "name": "refundedToProvider",
            "type": "u64"
          },
          {
            "name": "escrowRefund",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "stakeOpened",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "provider",
            "type": "pubkey"
          },
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "vault",
            "type": "pubkey"
          },
          {
            "name": "escrow",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "stakeStatus",
      "type": {
        "kind": "enum",
        "variants": [
          {
            "name": "active"
          },
          {
            "name": "unstaking"
          },
          {
            "name": "slashed"
          }
        ]
      }
    },
    {
      "name": "stakeTerms",
      "docs": [
        "The stake terms of one app (PDA `[TERMS_SEED, app]`). The mint never changes."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "mint",
            "type": "pubkey"
          },
          {
            "name": "tokenProgram",
            "docs": [
              "SPL Token or Token-2022: the owner of `mint`."
            ],
            "type": "pubkey"
          },
          {
            "name": "params",
            "type": {
              "defined": {
                "name": "termsParams"
              }
            }
          },
          {
            "name": "pending",
            "docs": [
              "A change the publisher proposed; applies at `pending_effective_at`."
            ],
            "type": {
              "option": {
                "defined": {
                  "name": "termsParams"
                }
              }
            }
          },
          {
            "name": "pendingEffectiveAt",
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
      "name": "staked",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "docs": [
              "What the vault received (a Token-2022 transfer fee may make it less than was sent)."
            ],
            "name": "received",
            "type": "u64"
          },
          {
            "name": "total",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeBound",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "tee",
            "type": "pubkey"
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
      "name": "teeUnbound",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "tee",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "termsApplied",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "params",
            "type": {
              "defined": {
                "name": "termsParams"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "termsCreated",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "mint",
            "type": "pubkey"
          },
          {
            "name": "tokenProgram",
            "type": "pubkey"
          },
          {
            "name": "params",
            "type": {
              "defined": {
                "name": "termsParams"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "termsParams",
      "docs": [
        "What the publisher asks of providers, and pays them."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "minStake",
            "docs": [
              "Smallest stake (in mint base units) a provider must hold."
            ],
            "type": "u64"
          },
          {
            "name": "answerWindowSecs",
            "docs": [
              "Time a provider has to answer a publisher's challenge."
            ],
            "type": "i64"
          },
          {
            "name": "recoveryWindowSecs",
            "docs": [
              "Time a provider has to recover after reporting corruption."
            ],
            "type": "i64"
          },
          {
            "name": "retrievalWindowSecs",
            "docs": [
              "Time a provider has to answer a retrieval request."
            ],
            "type": "i64"
          },
          {
            "name": "unstakeCooldownSecs",
            "docs": [
              "Time between `request_unstake` and `withdraw` (the provider stays liable meanwhile)."
            ],
            "type": "i64"
          },
          {
            "name": "slashToPublisherBps",
            "docs": [
              "Share of a slashed stake paid to the publisher; the rest is burned."
            ],
            "type": "u16"
          },
          {
            "name": "corruptionRefundBps",
            "docs": [
              "Share of the stake refunded to the provider when a self-reported corruption is not recovered."
            ],
            "type": "u16"
          },
          {
            "name": "challengeBondLamports",
            "docs": [
              "Lamports the publisher posts with each challenge."
            ],
            "type": "u64"
          },
          {
            "name": "bondToProviderOnAnswer",
            "docs": [
              "An answered challenge's bond goes to the provider (true) or back to the publisher (false)."
            ],
            "type": "bool"
          },
          {
            "name": "challengeIntervalSecs",
            "docs": [
              "Minimum time between two challenges (and between two retrieval requests) of one provider."
            ],
            "type": "i64"
          },
          {
            "name": "paymentPerEpoch",
            "docs": [
              "Tokens paid to the provider per epoch of service."
            ],
            "type": "u64"
          },
          {
            "name": "epochSecs",
            "type": "i64"
          },
          {
            "name": "graceSecs",
            "docs": [
              "How long the provider stays bound after the escrow runs dry."
            ],
            "type": "i64"
          }
        ]
      }
    },
    {
      "name": "termsProposed",
      "type": {
        "fields": [
          {
            "name": "app",
            "type": "pubkey"
          },
          {
            "name": "params",
            "type": {
              "defined": {
                "name": "termsParams"
              }
            }
          },
          {
            "name": "effectiveAt",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "unstakeRequested",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "unlockAt",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "withdrawn",
      "type": {
        "fields": [
          {
            "name": "stake",
            "type": "pubkey"
          },
          {
            "name": "amount",
            "type": "u64"
          },
          {
            "name": "payment",
            "type": "u64"
          },
          {
            "name": "escrowRefund",
            "type": "u64"
          }
        ],
        "kind": "struct"
      }
    }
  ]
};
