import { describe, expect, it } from 'vitest';
import { redisOptions } from '../../src/cluster/index.js';
import { hideRedisPassword } from '../../src/config/index.js';

describe('cluster - cluster.redis URLs', () => {
  it('cluster - redis:// names one server and a database; credentials and TLS come along', () => {
    expect(redisOptions('redis://127.0.0.1:6390')).toEqual({ host: '127.0.0.1', port: 6390, db: 0 });
    expect(redisOptions('redis://cache.internal/3')).toEqual({ host: 'cache.internal', port: 6379, db: 3 });
    expect(redisOptions('rediss://app:p%40ss@[::1]:6380/1')).toEqual({ host: '::1', port: 6380, db: 1, username: 'app', password: 'p@ss', tls: {} });
  });

  it('cluster - redis+sentinel:// names the Sentinels and the master they watch', () => {
    expect(redisOptions('redis+sentinel://10.0.0.1:26379,10.0.0.2/mymaster')).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
      ],
      name: 'mymaster',
      db: 0,
    });
  });

  it('cluster - what is not a usable URL is refused with what to write instead', () => {
    expect(() => redisOptions('http://127.0.0.1:6379')).toThrow(/is not a Redis URL: give redis:\/\/HOST:PORT/);
    expect(() => redisOptions('redis+sentinel://10.0.0.1:26379')).toThrow(/names no master/);
    expect(() => redisOptions('redis://a:6379,b:6379')).toThrow(/must name one server/);
    expect(() => redisOptions('redis://a:70000')).toThrow(/a port from 1 to 65535/);
    expect(() => redisOptions('redis://a:6379/zero')).toThrow(/the database "zero" is not a number/);
  });

  it('cluster - a password in the URL is hidden wherever the URL is shown (errors, logs, the blocked reason clients get)', () => {
    expect(hideRedisPassword('redis://app:s3cret@10.0.0.1:6379/2')).toBe('redis://app:***@10.0.0.1:6379/2');
    expect(hideRedisPassword('redis+sentinel://:s3cret@10.0.0.1,10.0.0.2/mymaster')).toBe('redis+sentinel://:***@10.0.0.1,10.0.0.2/mymaster');
    expect(hideRedisPassword('redis://10.0.0.1:6379')).toBe('redis://10.0.0.1:6379');
    // A password may hold "/" and "@": everything up to the last "@" is hidden.
    expect(hideRedisPassword('redis://app:ab/c@d@10.0.0.1:6379')).toBe('redis://app:***@10.0.0.1:6379');
    expect(() => redisOptions('redis://app:ab/cd@10.0.0.1:6379')).toThrow(/^(?!.*ab\/cd)/);
    expect(() => redisOptions('redis://app:s3cret@a:6379/zero')).toThrow(/^(?!.*s3cret).*the database "zero"/);
  });
});
