export * from './fips.js';
export * from './index-schema.js';
export * from './keys.js';
export * from './layout.js';
export * from './line.js';
export * from './names.js';
export * from './records.js';
export * from './tags.js';
