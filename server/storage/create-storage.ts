import path from 'node:path';
import type { Config } from '../config/config.js';
import { LocalStorage } from './local.storage.js';
import { S3Storage } from './s3.storage.js';
import type { StorageDriver } from './storage.js';

/** The local driver's folder under DATA_DIR. */
export const localStorageRoot = (dataDir: string): string => path.join(dataDir, 'storage');

export function createLocalStorage(config: Pick<Config, 'dataDir'>): LocalStorage {
  return new LocalStorage(localStorageRoot(config.dataDir));
}

export function createS3Storage(config: Pick<Config, 's3'>): S3Storage {
  if (!config.s3) throw new Error('S3_BUCKET is not set');
  return new S3Storage(config.s3);
}

/** The driver STORAGE_DRIVER names. */
export function createStorage(config: Pick<Config, 'dataDir' | 'storageDriver' | 's3'>): StorageDriver {
  return config.storageDriver === 's3' ? createS3Storage(config) : createLocalStorage(config);
}
