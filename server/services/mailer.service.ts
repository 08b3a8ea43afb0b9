import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export type Mail = { to: string; subject: string; text: string; html: string };
export type Mailer = { send: (mail: Mail) => Promise<void> };

/**
 * SMTP through nodemailer when SMTP_URL is set. Without it (the embedded default) each message is written to
 * the server log, so someone running Pixbin on one machine can still follow a verification or reset link.
 */
export function createMailer(options: { smtpUrl: string | undefined; from: string; logger: Logger }): Mailer {
  if (!options.smtpUrl) {
    return {
      async send(mail) {
        options.logger.info({ mail: { to: mail.to, subject: mail.subject, text: mail.text } }, 'email not sent (SMTP_URL is not set); here it is');
      },
    };
  }
  const transport: Transporter = nodemailer.createTransport(options.smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({ from: options.from, ...mail });
    },
  };
}
