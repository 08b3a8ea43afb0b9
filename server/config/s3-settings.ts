/** What the S3 driver needs; parsed from the S3_* variables by config.ts. */
export type S3Settings = {
  endpoint: string | undefined;
  region: string;
  bucket: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
  /** Empty, or ends with "/". */
  prefix: string;
  /** WHEN_REQUIRED avoids the aws-chunked uploads some S3-compatible servers mishandle. */
  requestChecksum: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** The bound on every call: connecting, waiting for an answer, and any silence while streaming. */
  timeoutMs: number;
  /** Multipart part size; memory per upload is about two parts. */
  partSizeBytes?: number;
};
