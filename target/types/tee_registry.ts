/**
 * Program IDL in camelCase format in order to be used in JS/TS.
 *
 * Note that this is only a type helper and is not the actual IDL. The original
 * IDL can be found at `target/idl/tee_registry.json`.
 */
export type TeeRegistry = {
  "address": "6PMREzfVXtPEc4x5YrTQWhH3N6Dow6y8hVuyggQC3ew2",
  "metadata": {
    "name": "teeRegistry",
    "version": "0.1.0",
    "spec": "0.1.0",
    "description": "Ironroot TEE key registry: one account per attested TEE signing key, writable only through the attestation verifier"
  },
  "instructions": [
    {
      "name": "register",
      "docs": [
        "Create the entry for a TEE key, or refresh an existing one with newer evidence."
      ],
      "discriminator": [
        211,
        124,
        67,
        15,
        211,
        194,
        178,
        240
      ],
      "accounts": [
        {
          "name": "verifierAuthority",
          "docs": [
            "The verifier's PDA: the only signer the registry accepts."
          ],
          "signer": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  101,
                  114,
                  105,
                  102,
                  105,
                  101,
                  114,
                  95,
                  97,
                  117,
                  116,
                  104,
                  111,
                  114,
                  105,
                  116,
                  121
                ]
              }
            ],
            "program": {
              "kind": "const",
              "value": [
                61,
                52,
                104,
                168,
                47,
                53,
                149,
                192,
                251,
                251,
                107,
                115,
                167,
                221,
                148,
                111,
                34,
                153,
                222,
                157,
                74,
                124,
                66,
                59,
                241,
                134,
                132,
                179,
                119,
                137,
                137,
                11
              ]
            }
          }
        },
        {
          "name": "payer",
          "writable": true,
          "signer": true
        },
        {
          "name": "entry",
          "writable": true,
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
                "kind": "arg",
                "path": "args.tee_pubkey"
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
          "name": "args",
          "type": {
            "defined": {
              "name": "registerArgs"
            }
          }
        }
      ]
    },
    {
      "name": "revoke",
      "docs": [
        "Mark a TEE key revoked; a revoked key can never be registered again."
      ],
      "discriminator": [
        170,
        23,
        31,
        34,
        133,
        173,
        93,
        242
      ],
      "accounts": [
        {
          "name": "verifierAuthority",
          "docs": [
            "The verifier's PDA, signing on behalf of governance."
          ],
          "signer": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  118,
                  101,
                  114,
                  105,
                  102,
                  105,
                  101,
                  114,
                  95,
                  97,
                  117,
                  116,
                  104,
                  111,
                  114,
                  105,
                  116,
                  121
                ]
              }
            ],
            "program": {
              "kind": "const",
              "value": [
                61,
                52,
                104,
                168,
                47,
                53,
                149,
                192,
                251,
                251,
                107,
                115,
                167,
                221,
                148,
                111,
                34,
                153,
                222,
                157,
                74,
                124,
                66,
                59,
                241,
                134,
                132,
                179,
                119,
                137,
                137,
                11
              ]
            }
          }
        },
        {
          "name": "entry",
          "writable": true,
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
                "path": "entry.tee_pubkey",
                "account": "teeEntry"
              }
            ]
          }
        }
      ],
      "args": []
    }
  ],
  "accounts": [
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
        54,
        10,
        132,
        66,
        90,
        255,
        189,
        4
      ],
      "name": "teeRefreshed"
    },
    {
      "discriminator": [
        131,
        35,
        36,
        82,
        41,
        145,
        80,
        109
      ],
      "name": "teeRegistered"
    },
    {
      "discriminator": [
        175,
        111,
        239,
        67,
        209,
        52,
        152,
        139
      ],
      "name": "teeRevoked"
    }
  ],
  "errors": [
    {
      "code": 6500,
      "name": "teeRevoked",
      "msg": "the TEE key is revoked and cannot be registered again"
    },
    {
      "code": 6501,
      "name": "alreadyRevoked",
      "msg": "the TEE key is already revoked"
    },
    {
      "code": 6502,
      "name": "nonceReplayed",
      "msg": "the statement's nonce is not larger than the last accepted one (replay)"
    },
    {
      "code": 6503,
      "name": "evidenceMismatch",
      "msg": "re-registration must keep the key's measurement, app id and compose hash"
    },
    {
      "code": 6504,
      "name": "expiryInPast",
      "msg": "expiry must lie in the future"
    }
  ],
  "types": [
    {
      "name": "registerArgs",
      "docs": [
        "Evidence the verifier accepted, passed to `register`."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "measurement",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
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
            "name": "composeHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "statementHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "quoteHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "tcbStatus",
            "type": "u8"
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "name": "expiresAt",
            "type": "i64"
          }
        ]
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
      "name": "teeRefreshed",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "statementHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "name": "expiresAt",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeRegistered",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "measurement",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
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
            "name": "composeHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "statementHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "name": "expiresAt",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeRevoked",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "revokedAt",
            "type": "i64"
          }
        ],
        "kind": "struct"
      }
    }
  ]
};
