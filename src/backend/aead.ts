/**
 * Each AEAD's argument checks and error mapping, written once (the model is
 * @noble/ciphers' `wrapCipher`): a backend supplies an `AeadCore` that is
 * handed only well-formed inputs, and `wrapAead` turns it into the public
 * seal / sealPieces / open with identical checks and the one uniform ERR_AUTH
 * on every backend.
 */

import { authError, invalidArgument } from '../errors.ts';

/** What the shared checks need to know about one AEAD. */
export interface AeadSpec {
  readonly keyBytes: number;
  /** What the nonce is called in argument errors (`iv`, `nonce`). */
  readonly nonceName: string;
  readonly nonceBytes: number;
  readonly maxPlaintextBytes: number;
  /** Whether seal() can produce a sealed input of this length; any other fails as ERR_AUTH without work. */
  sealedLengthPossible(length: number): boolean;
}

type SealFn = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) => Uint8Array;
type SealPiecesFn = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) => Uint8Array[];

/** One backend's implementation of one AEAD. Its inputs are already checked. */
export interface AeadCore {
  /** The sealed bytes as consecutive pieces (for a socket's writev). */
  sealPieces: SealPiecesFn;
  /** The sealed bytes in one buffer, where the backend has a faster way than joining its pieces. */
  seal?: SealFn;
  /**
   * The plaintext, or null when authentication fails; nothing decrypted may
   * escape in that case. `sealed` has a length seal() can produce.
   */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  /** open() of consecutive pieces, for a backend that can take them without joining; the same rule on failure. */
  openPieces?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: readonly Uint8Array[], length: number): Uint8Array[] | null;
}

export interface Aead {
  seal: SealFn;
  sealPieces: SealPiecesFn;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  openPieces(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: readonly Uint8Array[]): Uint8Array[];
}

/** Pieces as one buffer; a single piece is returned as it is. */
function join(pieces: readonly Uint8Array[]): Uint8Array {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

function wrapOne(plaintext: Uint8Array | null): Uint8Array[] | null {
  return plaintext === null ? null : [plaintext];
}

export function wrapAead(spec: AeadSpec, core: AeadCore): Aead {
  function check(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length !== spec.keyBytes) throw invalidArgument(`key must be ${spec.keyBytes} bytes`);
    if (!(nonce instanceof Uint8Array) || nonce.length !== spec.nonceBytes) {
      throw invalidArgument(`${spec.nonceName} must be ${spec.nonceBytes} bytes`);
    }
    if (!(aad instanceof Uint8Array)) throw invalidArgument('aad must be a Uint8Array');
    if (!(data instanceof Uint8Array)) throw invalidArgument('data must be a Uint8Array');
  }
  function checkPlaintext(plaintext: Uint8Array): void {
    if (plaintext.length > spec.maxPlaintextBytes) throw invalidArgument(`plaintext must be at most ${spec.maxPlaintextBytes} bytes`);
  }
  const sealWhole = core.seal ?? ((key, nonce, aad, plaintext) => join(core.sealPieces(key, nonce, aad, plaintext)));
  return {
    seal(key, nonce, aad, plaintext) {
      check(key, nonce, aad, plaintext);
      checkPlaintext(plaintext);
      return sealWhole(key, nonce, aad, plaintext);
    },
    sealPieces(key, nonce, aad, plaintext) {
      check(key, nonce, aad, plaintext);
      checkPlaintext(plaintext);
      return core.sealPieces(key, nonce, aad, plaintext);
    },
    open(key, nonce, aad, sealed) {
      check(key, nonce, aad, sealed);
      if (!spec.sealedLengthPossible(sealed.length)) throw authError();
      const plaintext = core.open(key, nonce, aad, sealed);
      if (plaintext === null) throw authError();
      return plaintext;
    },
    openPieces(key, nonce, aad, sealed) {
      let length = 0;
      for (const piece of sealed) {
        check(key, nonce, aad, piece);
        length += piece.length;
      }
      if (!spec.sealedLengthPossible(length)) throw authError();
      const plaintext = core.openPieces ? core.openPieces(key, nonce, aad, sealed, length) : wrapOne(core.open(key, nonce, aad, join(sealed)));
      if (plaintext === null) throw authError();
      return plaintext;
    },
  };
}
