/** File and directory transfer over a SecureChannel: the public surface. */

export { type DirectoryResult, sendDirectory, sendPaths } from './directory.ts';
export { type FileOffer, type FileReceiveOptions, receiveFile, receiveFiles, recvFile } from './file-receiver.ts';
export { type FileResult, type FileSendOptions, sendFile, sendFiles } from './file-sender.ts';
export type { ProgressListener, TransferProgress } from './progress.ts';
