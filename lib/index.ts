export * from './build-app.js';
export * from './config.js';
export * from './publisher.js';
export * from './reader-policy.js';
export * from './self-service-policy.js';
export * from './stacks.js';
export * from './user-data.js';
