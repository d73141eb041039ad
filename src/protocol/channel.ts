/**
 * The channel the public API hands out: a SecureChannel that can also move
 * files. The file methods live here, in the layer above both, so that the
 * channel layer never imports the file layer; each is the same as the
 * function of that name in files/ with this channel as its first argument.
 */

import type { Duplex } from 'node:stream';
import { SecureChannel } from '../channel/secure-channel.ts';
import * as files from '../files/index.ts';

export class Channel<T extends Duplex = Duplex> extends SecureChannel<T> {
  /** Streams one file to the peer (docs/FILES.md). */
  sendFile(path: string, options?: files.FileSendOptions): Promise<files.FileResult> {
    return files.sendFile(this, path, options);
  }

  sendFiles(paths: readonly string[], options?: files.FileSendOptions): Promise<files.FileResult[]> {
    return files.sendFiles(this, paths, options);
  }

  sendDirectory(dir: string, options?: files.FileSendOptions): Promise<files.DirectoryResult> {
    return files.sendDirectory(this, dir, options);
  }

  /** Receives the next single file the peer sends. */
  receiveFile(options?: files.FileReceiveOptions): Promise<files.FileResult> {
    return files.receiveFile(this, options);
  }

  /** Receives the peer's next batch: several files or a directory tree. */
  receiveFiles(options?: files.FileReceiveOptions): Promise<files.FileResult[]> {
    return files.receiveFiles(this, options);
  }
}
