/**
 * Program IDL in camelCase format in order to be used in JS/TS.
 *
 * Note that this is only a type helper and is not the actual IDL. The original
 * IDL can be found at `target/idl/attestation_verifier.json`.
 */
export type AttestationVerifier = {
  "address": "57vDmhykDq4pCVjm4ZcsUhTwTkKk6kQDU5kkSHS1tvC2",
  "metadata": {
    "name": "attestationVerifier",
    "version": "0.1.0",
    "spec": "0.1.0",
    "description": "Ironroot attestation verifier: k-of-n attester statements checked through the Ed25519 precompile, then CPI into the TEE registry"
  },
  "instructions": [
    {
      "name": "acceptAuthority",
      "docs": [
        "Second step: the proposed authority signs to take over."
      ],
      "discriminator": [
        107,
        86,
        198,
        91,
        33,
        12,
        107,
        160
      ],
      "accounts": [
        {
          "name": "newAuthority",
          "signer": true
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        }
      ],
      "args": []
    },
    {
      "name": "addAllowed",
      "docs": [
        "Governance: allow a (measurement, app identity) pair with its TCB floor."
      ],
      "discriminator": [
        249,
        43,
        102,
        160,
        98,
        236,
        59,
        208
      ],
      "accounts": [
        {
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "allowed",
          "type": {
            "defined": {
              "name": "allowedTee"
            }
          }
        }
      ]
    },
    {
      "name": "closeQuoteBuffer",
      "docs": [
        "The payer reclaims an expired quote buffer that no registration consumed."
      ],
      "discriminator": [
        117,
        128,
        5,
        163,
        206,
        252,
        173,
        69
      ],
      "accounts": [
        {
          "name": "payer",
          "writable": true,
          "signer": true,
          "relations": [
            "quoteBuffer"
          ]
        },
        {
          "name": "quoteBuffer",
          "writable": true
        }
      ],
      "args": []
    },
    {
      "name": "initialize",
      "docs": [
        "Create the governance config. Only the program's upgrade authority may call it, once."
      ],
      "discriminator": [
        175,
        175,
        109,
        31,
        13,
        152,
        155,
        237
      ],
      "accounts": [
        {
          "name": "upgradeAuthority",
          "docs": [
            "The program's upgrade authority: only the deployer can create the config, so nobody can",
            "front-run the deployment with a config of their own."
          ],
          "writable": true,
          "signer": true
        },
        {
          "name": "programData",
          "pda": {
            "seeds": [
              {
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
            ],
            "program": {
              "kind": "const",
              "value": [
                2,
                168,
                246,
                145,
                78,
                136,
                161,
                176,
                226,
                16,
                21,
                62,
                247,
                99,
                174,
                43,
                0,
                194,
                185,
                61,
                22,
                193,
                36,
                210,
                192,
                83,
                122,
                16,
                4,
                128,
                0,
                0
              ]
            }
          }
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
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
              "name": "initializeArgs"
            }
          }
        }
      ]
    },
    {
      "name": "proposeAuthority",
      "docs": [
        "Governance: first step of an authority rotation."
      ],
      "discriminator": [
        20,
        148,
        236,
        198,
        76,
        119,
        99,
        142
      ],
      "accounts": [
        {
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "newAuthority",
          "type": "pubkey"
        }
      ]
    },
    {
      "name": "recordQuoteIsv",
      "docs": [
        "Part 1 of the on-chain quote check: the secp256r1 precompile instruction just before this",
        "one checked the attestation key's signature over the quote's header‖body, whose report data",
        "must start with `tee`; opens the payer's buffer `[b\"quote\", tee, nonce, payer]`."
      ],
      "discriminator": [
        134,
        233,
        15,
        220,
        195,
        183,
        252,
        122
      ],
      "accounts": [
        {
          "name": "payer",
          "docs": [
            "Funds the buffer, gets its rent back, and must be `register_tee`'s payer. The buffer's",
            "address includes it, so nobody can squat (or fill with another quote) someone else's."
          ],
          "writable": true,
          "signer": true
        },
        {
          "name": "quoteBuffer",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  113,
                  117,
                  111,
                  116,
                  101
                ]
              },
              {
                "kind": "arg",
                "path": "tee"
              },
              {
                "kind": "arg",
                "path": "nonce"
              },
              {
                "kind": "account",
                "path": "payer"
              }
            ]
          }
        },
        {
          "name": "instructions",
          "address": "Sysvar1nstructions1111111111111111111111111"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": [
        {
          "name": "tee",
          "type": "pubkey"
        },
        {
          "name": "nonce",
          "type": "u64"
        }
      ]
    },
    {
      "name": "recordQuoteQe",
      "docs": [
        "Part 2: the precompile instruction just before this one checked the PCK key's signature over",
        "the QE report, which must bind `attestation_key` (part 1's signer) and `qe_auth_data`."
      ],
      "discriminator": [
        77,
        112,
        225,
        214,
        199,
        101,
        194,
        224
      ],
      "accounts": [
        {
          "name": "payer",
          "signer": true
        },
        {
          "name": "quoteBuffer",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  113,
                  117,
                  111,
                  116,
                  101
                ]
              },
              {
                "kind": "arg",
                "path": "tee"
              },
              {
                "kind": "arg",
                "path": "nonce"
              },
              {
                "kind": "account",
                "path": "payer"
              }
            ]
          }
        },
        {
          "name": "instructions",
          "address": "Sysvar1nstructions1111111111111111111111111"
        }
      ],
      "args": [
        {
          "name": "tee",
          "type": "pubkey"
        },
        {
          "name": "nonce",
          "type": "u64"
        },
        {
          "name": "attestationKey",
          "type": {
            "array": [
              "u8",
              64
            ]
          }
        },
        {
          "name": "qeAuthData",
          "type": "bytes"
        }
      ]
    },
    {
      "name": "registerTee",
      "docs": [
        "Register (or refresh) a TEE key from a k-of-n attester statement."
      ],
      "discriminator": [
        60,
        216,
        220,
        191,
        160,
        5,
        153,
        133
      ],
      "accounts": [
        {
          "name": "payer",
          "docs": [
            "Pays for the registry entry; may be any account."
          ],
          "writable": true,
          "signer": true
        },
        {
          "name": "tee",
          "docs": [
            "The TEE key being registered: its signature is the proof of possession."
          ],
          "signer": true
        },
        {
          "name": "config",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        },
        {
          "name": "verifierAuthority",
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
            ]
          }
        },
        {
          "name": "teeEntry",
          "writable": true
        },
        {
          "name": "quoteBuffer",
          "docs": [
            "The quote's recorded signatures (`[b\"quote\", tee, nonce, payer]`): required when",
            "governance's policy requires them, checked and closed (rent to `payer`) whenever passed."
          ],
          "writable": true,
          "optional": true
        },
        {
          "name": "instructions",
          "address": "Sysvar1nstructions1111111111111111111111111"
        },
        {
          "name": "teeRegistryProgram",
          "address": "6PMREzfVXtPEc4x5YrTQWhH3N6Dow6y8hVuyggQC3ew2"
        },
        {
          "name": "systemProgram",
          "address": "11111111111111111111111111111111"
        }
      ],
      "args": []
    },
    {
      "name": "removeAllowed",
      "docs": [
        "Governance: stop allowing a pair (registered keys stay until revoked)."
      ],
      "discriminator": [
        73,
        255,
        50,
        107,
        212,
        112,
        72,
        87
      ],
      "accounts": [
        {
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        }
      ],
      "args": [
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
          "name": "app",
          "type": {
            "defined": {
              "name": "appIdentity"
            }
          }
        }
      ]
    },
    {
      "name": "revokeTee",
      "docs": [
        "Governance: revoke a TEE key in the registry."
      ],
      "discriminator": [
        208,
        183,
        179,
        106,
        83,
        181,
        61,
        159
      ],
      "accounts": [
        {
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        },
        {
          "name": "verifierAuthority",
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
            ]
          }
        },
        {
          "name": "teeEntry",
          "docs": [
            "Owner-checked by `Account`; seeds re-checked by the registry."
          ],
          "writable": true
        },
        {
          "name": "teeRegistryProgram",
          "address": "6PMREzfVXtPEc4x5YrTQWhH3N6Dow6y8hVuyggQC3ew2"
        }
      ],
      "args": []
    },
    {
      "name": "setAttesters",
      "docs": [
        "Governance: replace the attester set and its threshold."
      ],
      "discriminator": [
        128,
        0,
        241,
        150,
        15,
        95,
        22,
        40
      ],
      "accounts": [
        {
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
              }
            ]
          }
        }
      ],
      "args": [
        {
          "name": "attesters",
          "type": {
            "vec": "pubkey"
          }
        },
        {
          "name": "threshold",
          "type": "u8"
        }
      ]
    },
    {
      "name": "setPolicy",
      "docs": [
        "Governance: accepted TCB statuses, key lifetime, statement age and the nonce floor."
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
          "name": "authority",
          "signer": true,
          "relations": [
            "config"
          ]
        },
        {
          "name": "config",
          "writable": true,
          "pda": {
            "seeds": [
              {
                "kind": "const",
                "value": [
                  99,
                  111,
                  110,
                  102,
                  105,
                  103
                ]
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
              "name": "policy"
            }
          }
        }
      ]
    }
  ],
  "accounts": [
    {
      "name": "quoteBuffer",
      "discriminator": [
        105,
        222,
        31,
        89,
        165,
        65,
        198,
        19
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
    },
    {
      "name": "verifierConfig",
      "discriminator": [
        176,
        103,
        248,
        36,
        138,
        167,
        176,
        220
      ]
    }
  ],
  "events": [
    {
      "discriminator": [
        211,
        237,
        248,
        252,
        116,
        185,
        125,
        116
      ],
      "name": "attestersUpdated"
    },
    {
      "discriminator": [
        244,
        117,
        94,
        112,
        53,
        151,
        35,
        89
      ],
      "name": "authorityProposed"
    },
    {
      "discriminator": [
        89,
        124,
        120,
        223,
        3,
        19,
        185,
        230
      ],
      "name": "authorityRotated"
    },
    {
      "discriminator": [
        181,
        49,
        200,
        156,
        19,
        167,
        178,
        91
      ],
      "name": "configInitialized"
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
        22,
        178,
        209,
        126,
        194,
        167,
        180,
        117
      ],
      "name": "quoteBufferClosed"
    },
    {
      "discriminator": [
        236,
        22,
        219,
        39,
        136,
        24,
        60,
        63
      ],
      "name": "quotePartRecorded"
    },
    {
      "discriminator": [
        149,
        195,
        139,
        248,
        101,
        104,
        95,
        11
      ],
      "name": "teeAllowed"
    },
    {
      "discriminator": [
        223,
        44,
        162,
        185,
        77,
        202,
        169,
        193
      ],
      "name": "teeAttested"
    },
    {
      "discriminator": [
        222,
        200,
        116,
        49,
        222,
        108,
        196,
        145
      ],
      "name": "teeDisallowed"
    },
    {
      "discriminator": [
        86,
        83,
        225,
        75,
        73,
        58,
        41,
        230
      ],
      "name": "teeRevokedByGovernance"
    }
  ],
  "errors": [
    {
      "code": 6000,
      "name": "notUpgradeAuthority",
      "msg": "signer is not the program's upgrade authority"
    },
    {
      "code": 6001,
      "name": "notAuthority",
      "msg": "signer is not the governance authority"
    },
    {
      "code": 6002,
      "name": "notPendingAuthority",
      "msg": "signer is not the proposed authority"
    },
    {
      "code": 6003,
      "name": "invalidAttesterSet",
      "msg": "attester set is empty, too large, or contains duplicates"
    },
    {
      "code": 6004,
      "name": "invalidThreshold",
      "msg": "threshold must be between 1 and the number of attesters"
    },
    {
      "code": 6005,
      "name": "allowListFull",
      "msg": "allow-list is full"
    },
    {
      "code": 6006,
      "name": "alreadyAllowed",
      "msg": "entry is already on the allow-list"
    },
    {
      "code": 6007,
      "name": "notAllowed",
      "msg": "entry is not on the allow-list"
    },
    {
      "code": 6008,
      "name": "invalidPolicy",
      "msg": "policy values are out of range"
    },
    {
      "code": 6009,
      "name": "nonceFloorDecrease",
      "msg": "the nonce floor can only be raised"
    },
    {
      "code": 6010,
      "name": "missingAttestation",
      "msg": "no Ed25519 precompile instruction carries an attestation statement"
    },
    {
      "code": 6011,
      "name": "malformedPrecompile",
      "msg": "malformed Ed25519 precompile instruction"
    },
    {
      "code": 6012,
      "name": "offsetRedirection",
      "msg": "an Ed25519 signature refers to data outside its own precompile instruction"
    },
    {
      "code": 6013,
      "name": "statementMismatch",
      "msg": "the signed messages are not all the same attestation statement"
    },
    {
      "code": 6014,
      "name": "malformedStatement",
      "msg": "the attestation statement does not decode"
    },
    {
      "code": 6015,
      "name": "wrongDomain",
      "msg": "wrong statement domain tag"
    },
    {
      "code": 6016,
      "name": "unsupportedVersion",
      "msg": "unsupported statement version"
    },
    {
      "code": 6017,
      "name": "wrongCluster",
      "msg": "statement is for another cluster"
    },
    {
      "code": 6018,
      "name": "wrongProgram",
      "msg": "statement is for another registry program"
    },
    {
      "code": 6019,
      "name": "teeKeyMismatch",
      "msg": "statement's TEE key is not the signing TEE account"
    },
    {
      "code": 6020,
      "name": "unknownAttester",
      "msg": "a signer is not a member of the attester set"
    },
    {
      "code": 6021,
      "name": "duplicateAttester",
      "msg": "an attester signed more than once"
    },
    {
      "code": 6022,
      "name": "insufficientAttesters",
      "msg": "fewer distinct attesters than the threshold signed"
    },
    {
      "code": 6023,
      "name": "teeNotAllowed",
      "msg": "the (measurement, app identity) pair is not on the allow-list"
    },
    {
      "code": 6024,
      "name": "tcbBelowPairFloor",
      "msg": "TCB status is worse than the allowed pair's floor"
    },
    {
      "code": 6025,
      "name": "tcbNotAccepted",
      "msg": "TCB status is not accepted"
    },
    {
      "code": 6026,
      "name": "nonceBelowFloor",
      "msg": "statement nonce is below the nonce floor"
    },
    {
      "code": 6027,
      "name": "statementStale",
      "msg": "statement was verified too long ago"
    },
    {
      "code": 6028,
      "name": "statementFromFuture",
      "msg": "statement is dated in the future"
    },
    {
      "code": 6029,
      "name": "statementExpired",
      "msg": "statement has expired"
    },
    {
      "code": 6030,
      "name": "overflow",
      "msg": "arithmetic overflow"
    },
    {
      "code": 6031,
      "name": "missingQuoteSignature",
      "msg": "the instruction before this one is not a secp256r1 precompile instruction"
    },
    {
      "code": 6032,
      "name": "quoteSignatureRedirected",
      "msg": "the secp256r1 precompile instruction must carry exactly one signature over its own data"
    },
    {
      "code": 6033,
      "name": "malformedQuotePrecompile",
      "msg": "malformed secp256r1 precompile instruction"
    },
    {
      "code": 6034,
      "name": "unsupportedQuoteLayout",
      "msg": "the signed header and body are not a supported quote layout that fits a transaction"
    },
    {
      "code": 6035,
      "name": "reportDataKeyMismatch",
      "msg": "the quote's report data does not start with the TEE key being registered"
    },
    {
      "code": 6036,
      "name": "malformedQeReport",
      "msg": "the QE report is not 384 bytes"
    },
    {
      "code": 6037,
      "name": "attestationKeyMismatch",
      "msg": "the raw attestation key does not compress to the key that signed header and body"
    },
    {
      "code": 6038,
      "name": "qeReportDataMismatch",
      "msg": "the QE report's data is not SHA-256(attestation key ‖ QE authentication data)"
    },
    {
      "code": 6039,
      "name": "qeAuthDataTooLong",
      "msg": "the QE authentication data is too long"
    },
    {
      "code": 6040,
      "name": "quotePartAlreadyRecorded",
      "msg": "this quote buffer already holds its QE report part"
    },
    {
      "code": 6041,
      "name": "quoteSignaturesRequired",
      "msg": "governance requires the quote's signatures: pass the complete quote buffer"
    },
    {
      "code": 6042,
      "name": "quoteBufferMismatch",
      "msg": "the quote buffer is not the PDA of the statement's TEE key and nonce"
    },
    {
      "code": 6043,
      "name": "quoteBufferIncomplete",
      "msg": "the quote buffer is missing its QE report part"
    },
    {
      "code": 6044,
      "name": "quoteBufferExpired",
      "msg": "the quote buffer has expired"
    },
    {
      "code": 6045,
      "name": "quoteBufferNotExpired",
      "msg": "the quote buffer has not expired yet"
    },
    {
      "code": 6046,
      "name": "quoteBufferPayerMismatch",
      "msg": "the quote buffer was funded by another payer"
    },
    {
      "code": 6047,
      "name": "quoteDigestMismatch",
      "msg": "the statement's quote hash is not the digest of the recorded quote"
    }
  ],
  "types": [
    {
      "name": "allowedTee",
      "docs": [
        "One allowed TEE configuration: a measurement together with the app identity it must run, and",
        "the worst TCB status accepted for it. A statement passes only if its own pair is listed, so",
        "allowing (M1, I1) and (M2, I2) never lets (M2, I1) in."
      ],
      "type": {
        "kind": "struct",
        "fields": [
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
            "name": "app",
            "type": {
              "defined": {
                "name": "appIdentity"
              }
            }
          },
          {
            "name": "maxTcbStatus",
            "docs": [
              "TCB floor for this pair: the largest [`TcbStatus`] value accepted (0 = UpToDate only).",
              "Applies on top of the policy's `accepted_tcb` set."
            ],
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "appIdentity",
      "docs": [
        "dstack app identity: app id and the compose hash it runs."
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
      "name": "attestersUpdated",
      "type": {
        "fields": [
          {
            "name": "attesters",
            "type": {
              "vec": "pubkey"
            }
          },
          {
            "name": "threshold",
            "type": "u8"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "authorityProposed",
      "type": {
        "fields": [
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
      "name": "authorityRotated",
      "type": {
        "fields": [
          {
            "name": "previous",
            "type": "pubkey"
          },
          {
            "name": "authority",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "configInitialized",
      "type": {
        "fields": [
          {
            "name": "authority",
            "type": "pubkey"
          },
          {
            "name": "clusterGenesisHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "attesters",
            "type": {
              "vec": "pubkey"
            }
          },
          {
            "name": "threshold",
            "type": "u8"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "initializeArgs",
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "authority",
            "docs": [
              "Governance authority (a multisig in production); may differ from the upgrade authority."
            ],
            "type": "pubkey"
          },
          {
            "name": "clusterGenesisHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "attesters",
            "type": {
              "vec": "pubkey"
            }
          },
          {
            "name": "threshold",
            "type": "u8"
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "policy"
              }
            }
          }
        ]
      }
    },
    {
      "name": "policy",
      "docs": [
        "Policy knobs governance can change in one instruction."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "acceptedTcb",
            "docs": [
              "Bitmask of accepted [`TcbStatus`] values; `Revoked` can never be accepted."
            ],
            "type": "u16"
          },
          {
            "name": "maxKeyLifetimeSecs",
            "docs": [
              "Upper bound on a registration's lifetime, in seconds."
            ],
            "type": "i64"
          },
          {
            "name": "maxStatementAgeSecs",
            "docs": [
              "How old a statement's `verified_at` may be when it is submitted, in seconds."
            ],
            "type": "i64"
          },
          {
            "name": "nonceFloor",
            "docs": [
              "Statements with a smaller nonce are refused; only ever raised (invalidates outstanding ones)."
            ],
            "type": "u64"
          },
          {
            "name": "requireQuoteSignatures",
            "docs": [
              "`register_tee` also requires the quote's own P-256 signatures, checked by the secp256r1",
              "precompile and recorded in a [`QuoteBuffer`] by `record_quote_isv` / `record_quote_qe`,",
              "whose [`quote_digest`] must equal the (version 2) statement's `quote_hash`."
            ],
            "type": "bool"
          }
        ]
      }
    },
    {
      "name": "policyUpdated",
      "type": {
        "fields": [
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "policy"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "quoteBuffer",
      "docs": [
        "What the secp256r1 precompile proved about one quote, recorded across two transactions",
        "(PDA `[QUOTE_SEED, tee, nonce LE, payer]`; created by `record_quote_isv`, completed by",
        "`record_quote_qe`, closed by `register_tee` or, after `expires_at`, by its payer)."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "tee",
            "type": "pubkey"
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "name": "payer",
            "docs": [
              "Funded the account; gets the rent back."
            ],
            "type": "pubkey"
          },
          {
            "name": "expiresAt",
            "type": "i64"
          },
          {
            "name": "headerBodyHash",
            "docs": [
              "SHA-256(header‖body), whose signature by `attestation_key` the precompile checked."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "attestationKey",
            "type": {
              "array": [
                "u8",
                33
              ]
            }
          },
          {
            "name": "qeReportHash",
            "docs": [
              "SHA-256(QE report), whose signature by `pck_key` the precompile checked (part 2)."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "pckKey",
            "type": {
              "array": [
                "u8",
                33
              ]
            }
          },
          {
            "name": "complete",
            "docs": [
              "Set once part 2 is recorded."
            ],
            "type": "bool"
          },
          {
            "name": "bump",
            "type": "u8"
          }
        ]
      }
    },
    {
      "name": "quoteBufferClosed",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "docs": [
              "True when `register_tee` consumed it, false when its payer reclaimed it after expiry."
            ],
            "name": "consumed",
            "type": "bool"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "quotePartRecorded",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          },
          {
            "name": "nonce",
            "type": "u64"
          },
          {
            "docs": [
              "1: attestation key over header‖body; 2: PCK key over the QE report."
            ],
            "name": "part",
            "type": "u8"
          },
          {
            "docs": [
              "SHA-256 of the signed bytes."
            ],
            "name": "signedHash",
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "docs": [
              "The compressed P-256 key the precompile checked the signature with."
            ],
            "name": "signingKey",
            "type": {
              "array": [
                "u8",
                33
              ]
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeAllowed",
      "type": {
        "fields": [
          {
            "name": "allowed",
            "type": {
              "defined": {
                "name": "allowedTee"
              }
            }
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "teeAttested",
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
            "name": "attesters",
            "type": {
              "vec": "pubkey"
            }
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
      "name": "teeDisallowed",
      "type": {
        "fields": [
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
            "name": "app",
            "type": {
              "defined": {
                "name": "appIdentity"
              }
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
      "name": "teeRevokedByGovernance",
      "type": {
        "fields": [
          {
            "name": "teePubkey",
            "type": "pubkey"
          }
        ],
        "kind": "struct"
      }
    },
    {
      "name": "verifierConfig",
      "docs": [
        "Governance configuration of the verifier (PDA `[CONFIG_SEED]`)."
      ],
      "type": {
        "kind": "struct",
        "fields": [
          {
            "name": "authority",
            "type": "pubkey"
          },
          {
            "name": "pendingAuthority",
            "docs": [
              "Set by `propose_authority`, cleared by `accept_authority`."
            ],
            "type": {
              "option": "pubkey"
            }
          },
          {
            "name": "clusterGenesisHash",
            "docs": [
              "Genesis hash of the cluster this config serves; statements must name it."
            ],
            "type": {
              "array": [
                "u8",
                32
              ]
            }
          },
          {
            "name": "threshold",
            "type": "u8"
          },
          {
            "name": "attesters",
            "type": {
              "vec": "pubkey"
            }
          },
          {
            "name": "allowed",
            "type": {
              "vec": {
                "defined": {
                  "name": "allowedTee"
                }
              }
            }
          },
          {
            "name": "policy",
            "type": {
              "defined": {
                "name": "policy"
              }
            }
          },
          {
            "name": "bump",
            "type": "u8"
          },
          {
            "name": "verifierAuthorityBump",
            "docs": [
              "Bump of the `[VERIFIER_AUTHORITY_SEED]` PDA, stored to avoid re-deriving it per call."
            ],
            "type": "u8"
          }
        ]
      }
    }
  ]
};
