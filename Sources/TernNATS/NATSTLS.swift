import NIOSSL

/// TLS to the NATS servers. A server whose INFO says `tls_required` (or any server, once this is
/// set) gets a TLS handshake before CONNECT, as NATS clients do: the server's certificate is
/// checked against `caFile` (else the system's trust roots) and its host name or IP address;
/// `certificateFile` and `keyFile` give a client certificate for servers that verify clients.
public struct NATSTLS: Sendable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// Reads the files into a client context; the error names the file that is wrong.
    public func makeContext() throws(NATSTLSError) -> NATSTLSContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw NATSTLSError("cannot read the CA certificates in \(caFile): \(error)")
            }
        }
        switch (certificateFile, keyFile) {
        case (let certificateFile?, let keyFile?):
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
            } catch {
                throw NATSTLSError("cannot read the client certificate in \(certificateFile): \(error)")
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw NATSTLSError("cannot read the client key in \(keyFile): \(error)")
            }
        case (nil, nil):
            break
        default:
            throw NATSTLSError("a client certificate needs both its certificate file and its key file")
        }
        do {
            return NATSTLSContext(context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw NATSTLSError("cannot make a TLS context: \(error)")
        }
    }
}

/// A loaded TLS configuration for `NATSOptions.tls` (made once, shared by every connection attempt).
public struct NATSTLSContext: Sendable {
    let context: NIOSSLContext
}

public struct NATSTLSError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
